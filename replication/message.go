package replication

import (
	"time"

	"github.com/amtenant/amtenant/state"
)

// Path is where a replica serves its stream.
const Path = "/replication/v1/stream"

// Kinds of messages on a stream, one JSON object per line.
const (
	// kindHello opens a stream: the serving replica's identity.
	kindHello = "hello"
	// kindBegin starts a snapshot; records are numbered from 1 after it.
	kindBegin = "begin"
	// kindTarget is one integration's whole log, within a snapshot.
	kindTarget = "target"
	// kindEnd ends a snapshot: the follower's copy is complete.
	kindEnd = "end"
	// kindRecord is one change of the log.
	kindRecord = "record"
	// kindHeartbeat says the stream is alive, and whether its replica
	// leads.
	kindHeartbeat = "heartbeat"
)

// message is one line of a stream.
type message struct {
	Kind     string        `json:"kind"`
	Identity string        `json:"identity,omitempty"`
	Leading  bool          `json:"leading"`
	Seq      uint64        `json:"seq,omitempty"`
	Target   *state.Target `json:"target,omitempty"`
	Record   *state.Record `json:"record,omitempty"`
	SentAt   time.Time     `json:"sentAt"`
}

// Store is the notification log: the senders' manager.
type Store interface {
	Export(now time.Time) []state.Target
	ApplyTarget(st state.Target, now time.Time)
	ApplyRecord(rec state.Record, now time.Time)
}

// Leadership is this replica's election (senders.Leadership).
type Leadership interface {
	Status() (leading bool, leaderSeen time.Time, changed <-chan struct{})
}

// Heartbeat is how often a stream says it is alive; a follower gives a
// stream up after three heartbeats of silence.
const Heartbeat = time.Second
