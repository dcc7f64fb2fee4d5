package delivery

import (
	"net/http"
	"testing"
)

// BenchmarkDecodeKafkaBinary is the hot path of every event a Kafka subscription delivers.
func BenchmarkDecodeKafkaBinary(b *testing.B) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("ce-specversion", "1.0")
	h.Set("ce-id", "partition:0/offset:1")
	h.Set("ce-source", "/apis/v1/namespaces/ns/kafkasources/at#activity-tracker")
	h.Set("ce-type", TypeKafka)
	body := []byte(atKey)
	b.ReportAllocs()
	for b.Loop() {
		ds, err := DecodeHTTP(h, body)
		if err != nil || ds[0].Activity == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePlain is a bare Activity Tracker event POSTed without CloudEvents framing.
func BenchmarkDecodePlain(b *testing.B) {
	body := []byte(atTag)
	b.ReportAllocs()
	for b.Loop() {
		if d := DecodeJSON(body); d.Err != nil {
			b.Fatal(d.Err)
		}
	}
}
