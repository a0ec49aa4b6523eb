// Package rundir owns what the processes of a run write into its run
// directory: the per-thread control-block shards (CreateShard, ShardPool),
// the event log (EventLog), and the supervisor record the host processes
// die with. It reads them back for the supervisor, which outlives any crash
// of a host process, as the plain values package report builds the
// coverage report from (ReadInput).
//
// It knows the control block's layout (package tls) and so links vsysbed's
// C and assembly; package report does not, and users' tests (package bed)
// import only that.
package rundir
