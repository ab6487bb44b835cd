//go:build !linux

package lowprio

// lowerThreadPriority does nothing where threads have no priority of
// their own that Go can set portably; the work runs at normal priority.
func lowerThreadPriority(int) {}
