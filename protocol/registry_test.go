package protocol

import (
	"context"
	"testing"
)

// TestRegisterRefusesWhatCannotBeServed checks the registry's rule that
// ApiVersions can never advertise a key or version without a handler:
// registering a key kmsg does not know, a version range kmsg cannot decode,
// a nil handler, or a key twice (ApiVersions included) panics at startup.
func TestRegisterRefusesWhatCannotBeServed(t *testing.T) {
	ok := func(context.Context, *Request) Reply { return NoResponse() }
	cases := map[string]func(r *Registry){
		"unknown key":            func(r *Registry) { r.Register(1000, 0, 0, ok) },
		"negative min":           func(r *Registry) { r.Register(3, -1, 5, ok) },
		"min above max":          func(r *Registry) { r.Register(3, 6, 5, ok) },
		"max above kmsg's":       func(r *Registry) { r.Register(3, 0, 1000, ok) },
		"nil handler":            func(r *Registry) { r.Register(3, 0, 13, nil) },
		"twice":                  func(r *Registry) { r.Register(3, 0, 13, ok); r.Register(3, 0, 12, ok) },
		"ApiVersions registered": func(r *Registry) { r.Register(apiVersionsKey, 0, 3, ok) },
	}
	for name, register := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("registration accepted")
				}
			}()
			register(NewRegistry())
		})
	}
}
