// Package state is the sidecar's delivery state on disk (--state.file):
// what the tracker knows about each alert and what each channel was told,
// so that a restarted sidecar sends nothing twice and resumes what was
// pending. The file is versioned JSON, written atomically (temporary file,
// fsync, rename, fsync of the directory). A file that cannot be used is set
// aside, never a reason not to start.
package state
