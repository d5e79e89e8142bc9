package serde_test

import (
	"bytes"
	"testing"

	"github.com/samsa-io/samsa/client/serde"
)

func TestBytesKeepsNullAndEmpty(t *testing.T) {
	var s serde.Serde[[]byte] = serde.Bytes{}
	for _, in := range [][]byte{nil, {}, []byte("x")} {
		b, err := s.Serialize("t", in)
		if err != nil || (b == nil) != (in == nil) || !bytes.Equal(b, in) {
			t.Errorf("Serialize(%q) = %q, %v", in, b, err)
		}
		v, err := s.Deserialize("t", in)
		if err != nil || (v == nil) != (in == nil) || !bytes.Equal(v, in) {
			t.Errorf("Deserialize(%q) = %q, %v", in, v, err)
		}
	}
}

func TestString(t *testing.T) {
	var s serde.Serde[string] = serde.String{}
	if b, err := s.Serialize("t", ""); err != nil || b == nil || len(b) != 0 {
		t.Errorf(`Serialize("") = %#v, %v; want empty, non-null`, b, err)
	}
	if b, _ := s.Serialize("t", "héllo"); string(b) != "héllo" {
		t.Errorf("Serialize = %q", b)
	}
	if v, err := s.Deserialize("t", nil); err != nil || v != "" {
		t.Errorf("Deserialize(nil) = %q, %v", v, err)
	}
}

type event struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func TestJSON(t *testing.T) {
	s := serde.JSON[event]{}
	b, err := s.Serialize("t", event{1, "a"})
	if err != nil || string(b) != `{"id":1,"name":"a"}` {
		t.Fatalf("Serialize = %s, %v", b, err)
	}
	if v, err := s.Deserialize("t", b); err != nil || v != (event{1, "a"}) {
		t.Errorf("Deserialize = %+v, %v", v, err)
	}
	if _, err := s.Deserialize("t", []byte("not json")); err == nil {
		t.Error("invalid JSON deserialized")
	}
	if _, err := s.Deserialize("t", []byte{}); err == nil {
		t.Error("empty non-null bytes deserialized")
	}
	if v, err := s.Deserialize("t", nil); err != nil || v != (event{}) {
		t.Errorf("Deserialize(nil) = %+v, %v; want zero", v, err)
	}

	ps := serde.JSON[*event]{}
	if b, err := ps.Serialize("t", nil); err != nil || b != nil {
		t.Errorf("nil pointer: %q, %v; want a null", b, err)
	}
	if v, err := ps.Deserialize("t", nil); err != nil || v != nil {
		t.Errorf("null: %+v, %v; want nil pointer", v, err)
	}

	if _, err := (serde.JSON[chan int]{}).Serialize("t", make(chan int)); err == nil {
		t.Error("a channel marshalled")
	}
}
