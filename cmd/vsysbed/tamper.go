package main

import (
	"strings"

	"github.com/vsysbed/vsysbed/kernelsim"
	"github.com/vsysbed/vsysbed/rundir"
)

// injectList is the repeatable --inject SPEC flag (kernelsim.ParseInjection).
type injectList []string

func (l *injectList) String() string { return strings.Join(*l, " ") }
func (l *injectList) Set(v string) error {
	if _, err := kernelsim.ParseInjection(v); err != nil {
		return err
	}
	*l = append(*l, v)
	return nil
}

// tamperOptions checks --inject and --personality and resolves the
// personality to its names; nil when they change nothing.
func tamperOptions(injects []string, personality string) (*rundir.Tamper, error) {
	t := &rundir.Tamper{Inject: injects}
	p, err := kernelsim.LoadPersonality(personality)
	if err != nil {
		return nil, err
	}
	if p != nil {
		t.Personality, t.Syscalls = p.Name, p.Syscalls
	}
	if t.Empty() {
		return nil, nil
	}
	return t, nil
}
