// Package protocol owns the Kafka wire protocol at the byte level: request
// framing and its size limit, request and response headers, the table of API
// keys and versions a listener serves, dispatch to handlers, and the mapping of
// Go errors to Kafka error codes. Nothing else in Samsa reads or writes raw
// frames; handlers see decoded github.com/twmb/franz-go/pkg/kmsg values.
//
// # Framing
//
// Every request and response is a big-endian int32 length followed by that
// many bytes. The length is checked against ServerConfig.MaxRequestBytes
// (Kafka's socket.request.max.bytes, 100 MiB by default) before any buffer is
// allocated, so a hostile length cannot make the server allocate.
//
// # Versions
//
// A Registry maps an API key to a handler and the version range it serves.
// ApiVersions (key 18) is answered by the package itself from the registry, so
// a listener can never advertise a key or version that has no handler. An
// ApiVersions request of an unsupported version is answered in the v0 format
// with UNSUPPORTED_VERSION and the supported list, as Kafka does, so that the
// client can retry with a version both sides know. Any other request with an
// unknown key or an unsupported version closes the connection after one log
// line (Kafka does the same: there is no response format to answer with).
//
// # Concurrency contract
//
// A Server owns one goroutine per accepted connection (the reader, which also
// dispatches), one writer goroutine per connection, and one goroutine per
// request whose handler returned Later. Handlers are called on the reader
// goroutine in the order requests arrive, so a handler can order work that
// must follow arrival order (a producer's appends) before it returns; anything
// that blocks goes into Later. Responses are written in request order whatever
// order the Later functions finish in. Shutdown stops accepting, stops reading
// new requests, waits for every in-flight request to be answered, and returns
// only after every goroutine it started has exited. A panic in a handler is
// recovered, logged, and closes only that connection.
package protocol
