package textemu

import (
	"maps"
	"strconv"
	"sync"
	"time"
)

// state is the live state of a device and its counters; goroutine-safe.
type state struct {
	c   *compiled
	now func() time.Time

	mu       sync.Mutex
	start    time.Time
	values   map[string]variable
	faults   Faults
	received int            // terminated lines
	counts   map[string]int // per command key (identity: the request)
	unknown  int
	execs    int // commands that changed state (set or reboot)
	reboots  int
}

func newState(c *compiled, now func() time.Time) *state {
	s := &state{c: c, now: now, counts: map[string]int{}, faults: c.spec.Faults}
	s.reset()
	return s
}

// reset restores the initial values; the caller holds mu or owns s.
func (s *state) reset() {
	s.start = s.now()
	s.values = maps.Clone(s.c.values)
}

// answer is what the device does about one received line.
type answer struct {
	reply  []byte // without terminator; nil: no reply
	reboot bool   // reset after the reply has been sent
	faults Faults
}

// respond executes one received line (terminator stripped) and returns the
// answer; counters are updated.
func (s *state) respond(line []byte) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received++
	a := answer{faults: s.faults}
	if reply, ok := s.c.identity[string(line)]; ok {
		s.counts[string(line)]++
		a.reply = []byte(reply)
		return a
	}
	for i := range s.c.commands {
		cmd := &s.c.commands[i]
		var groups [][]byte
		if cmd.re == nil {
			if string(line) != cmd.spec.Request {
				continue
			}
		} else if groups = cmd.re.FindSubmatch(line); groups == nil {
			continue
		}
		s.counts[cmd.spec.Key()]++
		if !s.apply(cmd, groups) {
			a.reply = []byte(s.c.unknown)
			return a
		}
		if !cmd.spec.NoReply {
			a.reply = cmd.reply.render([]byte{}, func(name string) slotValue {
				if cmd.re != nil {
					if g := cmd.re.SubexpIndex(name); g > 0 {
						return slotValue{text: true, str: string(groups[g])}
					}
				}
				return s.value(name)
			})
		}
		a.reboot = cmd.reboot
		return a
	}
	s.unknown++
	a.reply = []byte(s.c.unknown)
	return a
}

// apply stores the command's groups into values; false when an argument does
// not fit its value (nothing is stored then). The caller holds mu.
func (s *state) apply(cmd *command, groups [][]byte) bool {
	next := map[string]variable{}
	for _, st := range cmd.set {
		v := s.values[st.value]
		arg := string(groups[st.group])
		if v.text {
			v.str = arg
		} else {
			f, err := strconv.ParseFloat(arg, 64)
			if err != nil {
				return false
			}
			v.num = f
		}
		next[st.value] = v
	}
	maps.Copy(s.values, next)
	if len(cmd.set) > 0 || cmd.reboot {
		s.execs++
	}
	return true
}

// value is a variable's current value; the caller holds mu.
func (s *state) value(name string) slotValue {
	v := s.values[name]
	if v.text {
		return slotValue{text: true, str: v.str}
	}
	if v.drift != nil {
		return slotValue{num: v.drift.at(s.now().Sub(s.start))}
	}
	return slotValue{num: v.num}
}

func (s *state) reboot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reboots++
	s.reset()
}
