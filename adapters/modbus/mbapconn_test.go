package modbus

import "testing"

// framing is the state follow leaves, for comparing.
type framing struct {
	pos, left int
	desync    bool
}

func followAll(chunks ...[]byte) framing {
	var c mbapConn
	for _, b := range chunks {
		c.follow(b)
	}
	return framing{c.pos, c.left, c.desynced()}
}

func TestFollowFramesReplies(t *testing.T) {
	reply := []byte{0, 1, 0, 0, 0, 5, 1, 3, 2, 0x11, 0x11}
	for _, tc := range []struct {
		name   string
		chunks [][]byte
		mid    bool
		desync bool
	}{
		{"one whole reply", [][]byte{reply}, false, false},
		{"two replies at once", [][]byte{append(append([]byte{}, reply...), reply...)}, false, false},
		{"header then body", [][]byte{reply[:7], reply[7:]}, false, false},
		{"inside the header", [][]byte{reply[:3]}, true, false},
		{"inside the body", [][]byte{reply[:8]}, true, false},
		{"a whole reply and part of the next", [][]byte{reply, reply[:1]}, true, false},
		{"empty body", [][]byte{{0, 1, 0, 0, 0, 0}}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c mbapConn
			for _, b := range tc.chunks {
				c.follow(b)
			}
			if c.midFrame() != tc.mid || c.desynced() != tc.desync {
				t.Fatalf("midFrame %v desynced %v, want %v %v", c.midFrame(), c.desynced(), tc.mid, tc.desync)
			}
		})
	}
}

// FuzzFollow: the framing of a stream does not depend on how reads split it,
// and stays within its bounds.
func FuzzFollow(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 5, 1, 3, 2, 0x11, 0x11}, uint8(7))
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 1, 0x83, 2}, uint8(3))
	f.Add([]byte{0x55, 0x00, 0x55, 0x00, 0xFF, 0xFF, 1}, uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8) {
		k := min(int(cut), len(stream))
		whole, split := followAll(stream), followAll(stream[:k], stream[k:])
		if whole != split {
			t.Fatalf("whole %+v, split at %d %+v", whole, k, split)
		}
		if whole.pos < 0 || whole.pos > mbapHeader || whole.left < 0 || whole.left > 0xFFFF {
			t.Fatalf("framing out of bounds: %+v", whole)
		}
	})
}
