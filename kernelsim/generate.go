package kernelsim

// docs/syscalls.md is rendered from Table(), never edited by hand; the docs
// test fails when the two drift apart. names.go is regenerated separately
// (it depends on the host's uapi header): go run ./internal/genames -o names.go
//go:generate go run ./gendocs -o ../docs/syscalls.md
