package tls

/*
extern int vsysbed_sync_core_errno;
*/
import "C"

import "golang.org/x/sys/unix"

// SyncCoreRegistration is how synccore.c's constructor, which runs before
// Go's runtime starts a thread, fared registering this process for the
// SYNC_CORE membarrier: tried false outside the host processes; err nil
// when it is registered, else the kernel's answer (EINVAL: no such
// membarrier).
func SyncCoreRegistration() (tried bool, err error) {
	switch e := C.vsysbed_sync_core_errno; e {
	case -1:
		return false, nil
	case 0:
		return true, nil
	default:
		return true, unix.Errno(e)
	}
}
