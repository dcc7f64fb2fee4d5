package delivery

import (
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// JobDelivery reads the event a Code Engine job run was given: a CloudEvent in the CE_*
// variables, or an Event Notifications payload in ibmendata. ok is false when the environment
// carries no event at all, which asks for a full reconcile.
//
// A job run by a subscription gets CE_DATA, CE_DOMAIN, CE_ID, CE_SOURCE, CE_SPECVERSION,
// CE_SUBDOMAIN, CE_SUBJECT, CE_TIME, CE_TYPE, and every job run CE_JOB, CE_JOBRUN and
// JOB_INDEX; a cron subscription adds CONTENT_TYPE (Code Engine "subscribing to events" docs,
// ibm-cloud-facts §4). CE_DOMAIN, CE_SUBDOMAIN, CE_JOB, CE_JOBRUN and JOB_INDEX say nothing
// about what to do and are not read; only the event's own variables mean there is an event.
func JobDelivery(lookup func(string) (string, bool)) (d Delivery, ok bool) {
	get := func(name string) string { v, _ := lookup(name); return v }
	ceVars := []string{"CE_ID", "CE_SOURCE", "CE_TYPE", "CE_SPECVERSION", "CE_SUBJECT", "CE_TIME", "CE_DATA"}
	for _, name := range ceVars {
		if get(name) != "" {
			return jobCloudEvent(get), true
		}
	}
	if payload := get("ibmendata"); payload != "" {
		return DecodeJSON([]byte(payload)), true
	}
	return Delivery{}, false
}

func jobCloudEvent(get func(string) string) Delivery {
	spec := get("CE_SPECVERSION")
	if spec == "" {
		return Delivery{Err: errors.New("CE_SPECVERSION: missing")}
	}
	if spec != event.CloudEventsVersionV1 && spec != event.CloudEventsVersionV03 {
		return Delivery{Err: fmt.Errorf("CE_SPECVERSION: %q is not 1.0 or 0.3", Abbreviate(spec))}
	}
	e := event.New(spec)
	e.SetID(get("CE_ID"))
	e.SetSource(get("CE_SOURCE"))
	e.SetType(get("CE_TYPE"))
	if s := get("CE_SUBJECT"); s != "" {
		e.SetSubject(s)
	}
	if s := get("CE_TIME"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Delivery{Err: fmt.Errorf("CE_TIME: %q is not an RFC 3339 time", Abbreviate(s))}
		}
		e.SetTime(t)
	}
	if data := get("CE_DATA"); data != "" {
		contentType := get("CONTENT_TYPE")
		if contentType == "" {
			contentType = event.ApplicationJSON
		}
		if err := e.SetData(contentType, []byte(data)); err != nil {
			return Delivery{Err: fmt.Errorf("CE_DATA: %w", err)}
		}
	}
	if err := e.Validate(); err != nil {
		return Delivery{Err: fmt.Errorf("CE_* variables: %w", err)}
	}
	return FromCloudEvent(e)
}
