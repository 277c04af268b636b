// Package replication gives followers a live copy of the leader's
// notification log, so that a takeover sends again only what the leader
// delivered in its last moment.
//
// Every replica serves a stream (Server) on --replication.listen-address;
// every follower reads the streams of its --replication.peer addresses
// (Client). While a replica leads, its stream carries a snapshot of its
// whole log (each integration's groups and what each was last told, the
// state file's form), then each change as a numbered record, and a
// heartbeat every second. A follower applies the stream of the peer that
// last began a snapshot while leading; a gap in the numbers, a silent
// stream or a closed connection ends its copy, and it falls back to the
// takeover window until a new snapshot arrives (see senders.Leadership).
//
// Why a pull of the leader's log rather than Alertmanager's gossip
// (cluster, nflog): there is one writer, so no merge of peers' states is
// needed; an ordered stream with a snapshot at its start tells a follower
// exactly whether its copy is complete, so the fallback applies to the
// spans without a copy and to nothing else (gossip is best effort and
// says nothing of what was missed); a record reaches the follower in
// milliseconds rather than a gossip interval; and it is one TCP
// connection per pair of replicas, easy to allow in a NetworkPolicy.
package replication
