// Package e2e runs real programs twice — natively and under `vsysbed run` —
// and checks that vsysbed changes nothing a program can observe (stdout,
// stderr, exit status) while its JSON report stays self-consistent.
//
// The suite needs build/vsysbed and build/guests (`make build guests`);
// VSYSBED_BIN and VSYSBED_GUESTS override those paths.
package e2e
