package models

import "time"

// Quality says whether a reading's value can be trusted.
type Quality uint8

const (
	QualityGood Quality = iota
	// QualityBad marks a value the device sent but the codec refused (NaN, bad UTF-8, ...).
	QualityBad
)

func (q Quality) String() string {
	if q == QualityGood {
		return "good"
	}
	return "bad"
}

// Reading is one decoded property value, as an adapter returns it from a poll.
// Property is the index into Compiled.Properties; the gateway maps it to a name.
type Reading struct {
	Property int
	Value    Value
	Quality  Quality
	Time     time.Time
}
