package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

const eventSummary = `Write a test event to stdout, in the shape IBM's services send it, like sam local
generate-event does: pipe it into replay - or POST it to a running serve.

KIND is one of:
  tag-attach, tag-detach  --snapshot ID [--tag TAG]    (a user tag on a snapshot)
  snapshot-delete         --snapshot ID
  key-create, key-delete  --instance GUID --key ID [--type root_key] [--service kms|hs-crypto]
  backup-policy-create    --policy ID                  (a Backup for VPC policy)
with --region (default us-south) and --account (default IBMCLOUD_ACCOUNT_ID, else the sample
world's account).

--as says the envelope:
  at          the Activity Tracker event alone (what a Kafka subscription POSTs as the body)
  kafka       the same body on one line; the headers a Code Engine Kafka subscription sends
              (ce-id partition:N/offset:M, ce-kafkaheader*) cannot travel in a body, so a curl
              command line with them is printed on stderr: event … --as kafka | <that line>
  job-env     a Code Engine job's environment (CE_DATA=…, CE_ID=…), as replay reads .env files
  structured  a structured-mode CloudEvent (JSON with the Kafka extensions and data)

Exit 0: written; 2: usage error.`

// The event kinds and what each needs.
var eventKinds = map[string]struct {
	object string // "snapshot", "key" or "backup-policy"
	action string // the Activity Tracker action; {service} is the KMS service
}{
	// The VPC tag action's service part is undocumented (facts file, section 4); the corpus
	// and the classifier use is.tag.attach, and any *.tag.attach is accepted.
	"tag-attach":      {"snapshot", "is.tag.attach"},
	"tag-detach":      {"snapshot", "is.tag.detach"},
	"snapshot-delete": {"snapshot", "is.snapshot.snapshot.delete"},
	"key-create":      {"key", "{service}.secrets.create"},
	"key-delete":      {"key", "{service}.secrets.delete"},
	// Named after the pattern of VPC's Activity Tracker event list (is.<resource>.<resource>.<verb>,
	// ibm-cloud-docs/vpc at-events.md).
	"backup-policy-create": {"backup-policy", "is.backup-policy.backup-policy.create"},
}

// eventSource is the CloudEvent source a Kafka subscription gives its events:
// /apis/v1/namespaces/<project>/kafkasources/<subscription>#<topic> (facts file, section 4), here
// with deploy.sh's subscription name.
const eventSource = "/apis/v1/namespaces/s2s-authorizer/kafkasources/s2s-authorizer-activity-events#activity-tracker"

// eventTimeLayout is Activity Tracker's eventTime format (as in IBM's sample events).
const eventTimeLayout = "2006-01-02T15:04:05.00-0700"

type eventSpec struct {
	kind, region, account, snapshot, tag, instance, key, keyType, service, policy, as, id string
	at                                                                                    time.Time
}

func runEvent(_ context.Context, a *app, args []string) int {
	fs := a.flags("event", "KIND [flags]", eventSummary)
	var sp eventSpec
	fs.StringVar(&sp.region, "region", "us-south", "the object's `REGION`")
	fs.StringVar(&sp.account, "account", "", "the `ACCOUNT` that owns the object (default IBMCLOUD_ACCOUNT_ID, else the sample world's)")
	fs.StringVar(&sp.snapshot, "snapshot", "", "snapshot `ID` (tag and snapshot events)")
	fs.StringVar(&sp.tag, "tag", "", "tag events: the `TAG` named in requestData (default RESTORE_TAG_PREFIX:<first of RESTORE_ALLOWED_ACCOUNTS>, else none); the function reads the snapshot's tags anyway")
	fs.StringVar(&sp.instance, "instance", "", "KMS instance `GUID` (key events)")
	fs.StringVar(&sp.key, "key", "", "key `ID` (key events)")
	fs.StringVar(&sp.keyType, "type", authz.RootKeyType, "key-create: requestData.keyType (root_key, standard_key; IBM documents no values)")
	fs.StringVar(&sp.service, "service", "kms", "key events: kms (Key Protect) or hs-crypto (Hyper Protect Crypto Services)")
	fs.StringVar(&sp.policy, "policy", "", "backup policy `ID` (backup-policy-create)")
	fs.StringVar(&sp.as, "as", "at", "envelope: at, kafka, job-env or structured")
	fs.StringVar(&sp.id, "id", "", "the delivery's id (default partition:0/offset:<milliseconds since 1970>, new each time, so that serve does not take it for a duplicate)")
	when := fs.String("time", "", "the event's time, RFC 3339 (default now)")
	pos, done, code := a.parseInterspersed(fs, args)
	if done {
		return code
	}
	cfg, ok := a.loadConfig(nil)
	if !ok {
		return exitUsage
	}
	var problems []string
	if len(pos) != 1 {
		problems = append(problems, "want one KIND")
	} else {
		sp.kind = pos[0]
	}
	k, known := eventKinds[sp.kind]
	if len(pos) == 1 && !known {
		problems = append(problems, fmt.Sprintf("unknown KIND %q: want %s", sp.kind, strings.Join(eventKindNames(), ", ")))
	}
	if sp.account == "" {
		sp.account = cfg.AccountID
	}
	if sp.account == "" {
		sp.account = emulator.SampleWorld().AccountID
	}
	if !crn.IsAccountID(sp.account) {
		problems = append(problems, "--account must be 32 lowercase hex")
	}
	need := func(flagName, value string) {
		if value == "" {
			problems = append(problems, fmt.Sprintf("%s needs --%s", sp.kind, flagName))
		}
	}
	switch k.object {
	case "snapshot":
		need("snapshot", sp.snapshot)
		// The function never reads the tag from the event (it reads the snapshot's tags), so
		// without an allowlisted account to name the event simply names no tag.
		if strings.HasPrefix(sp.kind, "tag-") && sp.tag == "" && len(cfg.RestoreAllowedAccounts) > 0 {
			sp.tag = cfg.RestoreTagPrefix + ":" + cfg.RestoreAllowedAccounts[0]
		}
	case "key":
		need("instance", sp.instance)
		need("key", sp.key)
		if !authz.IsKMSService(sp.service) {
			problems = append(problems, "--service must be kms or hs-crypto")
		}
	case "backup-policy":
		need("policy", sp.policy)
	}
	switch sp.as {
	case "at", "kafka", "job-env", "structured":
	default:
		problems = append(problems, fmt.Sprintf("--as %q: want at, kafka, job-env or structured", sp.as))
	}
	sp.at = time.Now().UTC()
	if *when != "" {
		t, err := time.Parse(time.RFC3339Nano, *when)
		if err != nil {
			problems = append(problems, "--time: want RFC 3339, e.g. 2026-11-20T10:08:04Z")
		}
		sp.at = t.UTC()
	}
	if sp.id == "" {
		sp.id = fmt.Sprintf("partition:0/offset:%d", sp.at.UnixMilli())
	}
	if len(problems) > 0 {
		fmt.Fprintf(a.stderr, "event: %s\n", strings.Join(problems, "; "))
		fs.Usage()
		return exitUsage
	}
	a.writeEvent(sp, activityEvent(sp, k.object, strings.ReplaceAll(k.action, "{service}", sp.service)))
	return exitOK
}

func eventKindNames() []string {
	names := make([]string, 0, len(eventKinds))
	for n := range eventKinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// activityEvent builds the CADF event Activity Tracker would record, with the fields the
// corpus's IBM-shaped events carry (testdata/events/activity-tracker).
func activityEvent(sp eventSpec, object, action string) map[string]any {
	ev := map[string]any{
		"eventTime": sp.at.Format(eventTimeLayout),
		"action":    action,
		"outcome":   "success",
		"severity":  "normal",
		"reason":    map[string]any{"reasonCode": 200, "reasonType": "OK"},
		"initiator": map[string]any{
			"id": "iam-ServiceId-00000000-0000-4000-8000-000000000000", "name": "s2s-authorizer event",
			"typeURI": "service/security/account/serviceid", "credential": map[string]any{"type": "apikey"},
		},
		"observer":      map[string]any{"name": "ActivityTracker"},
		"correlationId": sp.id,
	}
	vpc := func(resourceType, id string) string {
		return crn.Public("is", sp.region, sp.account, "", resourceType, id).String()
	}
	vpcLogSource := crn.Public("is", sp.region, sp.account, "", "", "").String()
	switch object {
	case "snapshot":
		ev["target"] = map[string]any{"id": vpc("snapshot", sp.snapshot), "name": sp.snapshot, "typeURI": "is/snapshot"}
		ev["message"] = "Virtual Private Cloud: " + action + " " + sp.snapshot
		ev["logSourceCRN"] = vpcLogSource
		if strings.HasPrefix(sp.kind, "tag-") {
			// Tag events are account-management events, emitted in the global location only.
			ev["logSourceCRN"] = crn.Public("globalcatalog-collection", "global", sp.account, "", "", "").String()
			if sp.tag != "" {
				ev["requestData"] = map[string]any{"tag_names": []string{sp.tag}}
			}
		}
	case "key":
		ev["target"] = map[string]any{
			"id":   crn.Public(sp.service, sp.region, sp.account, sp.instance, "key", sp.key).String(),
			"name": sp.key, "typeURI": sp.service + "/secrets",
		}
		ev["message"] = "Key Protect: " + action + " " + sp.key
		ev["logSourceCRN"] = crn.Public(sp.service, sp.region, sp.account, sp.instance, "", "").String()
		request := map[string]any{"requestURI": "/api/v2/keys", "instanceID": sp.instance}
		// Only create carries keyType and keyId; delete carries the key's state (facts file,
		// section 4).
		if strings.HasSuffix(action, ".create") {
			request["keyType"] = sp.keyType
			ev["responseData"] = map[string]any{"keyId": sp.key}
			ev["reason"] = map[string]any{"reasonCode": 201, "reasonType": "Created"}
		} else {
			ev["responseData"] = map[string]any{"keyState": 5}
		}
		ev["requestData"] = request
	case "backup-policy":
		ev["target"] = map[string]any{"id": vpc("backup-policy", sp.policy), "name": sp.policy, "typeURI": "is/backup-policy"}
		ev["message"] = "Virtual Private Cloud: " + action + " " + sp.policy
		ev["logSourceCRN"] = vpcLogSource
		ev["reason"] = map[string]any{"reasonCode": 201, "reasonType": "Created"}
	}
	return ev
}

// location is the Kafka header Event Routing adds: global for tag events, the region otherwise.
func (sp eventSpec) location() string {
	if strings.HasPrefix(sp.kind, "tag-") {
		return "global"
	}
	return sp.region
}

// subject is the CloudEvent subject a Kafka subscription derives from the id: partition:N#M.
func (sp eventSpec) subject() string {
	s := strings.Replace(sp.id, "/offset:", "#", 1)
	if s == sp.id {
		return ""
	}
	return s
}

func (a *app) writeEvent(sp eventSpec, ev map[string]any) {
	compact, _ := json.Marshal(ev)
	extensions := [][2]string{
		{"kafkaheadertype", "audit"}, {"kafkaheaderaccount", sp.account},
		{"kafkaheaderregion", sp.region}, {"kafkaheaderlocation", sp.location()},
	}
	switch sp.as {
	case "at":
		a.printJSON(ev)
	case "kafka":
		fmt.Fprintf(a.stdout, "%s\n", compact)
		headers := []string{
			"Content-Type: application/json", "ce-specversion: 1.0", "ce-id: " + sp.id,
			"ce-type: dev.knative.kafka.event", "ce-source: " + eventSource, "ce-time: " + sp.at.Format(time.RFC3339Nano),
		}
		if s := sp.subject(); s != "" {
			headers = append(headers, "ce-subject: "+s)
		}
		for _, e := range extensions {
			headers = append(headers, "ce-"+e[0]+": "+e[1])
		}
		line := "curl -sS -X POST \"${URL:-http://127.0.0.1:8080/}\""
		for _, h := range headers {
			line += " -H '" + h + "'"
		}
		fmt.Fprintf(a.stderr, "# POST it as a Code Engine Kafka subscription would:\n%s --data-binary @-\n", line)
	case "job-env":
		fmt.Fprintf(a.stdout, "CE_DATA=%s\nCE_ID=%s\nCE_SOURCE=%s\nCE_SPECVERSION=1.0\n", compact, sp.id, eventSource)
		if s := sp.subject(); s != "" {
			fmt.Fprintf(a.stdout, "CE_SUBJECT=%s\n", s)
		}
		fmt.Fprintf(a.stdout, "CE_TIME=%s\nCE_TYPE=dev.knative.kafka.event\n", sp.at.Format(time.RFC3339Nano))
	case "structured":
		ce := map[string]any{
			"specversion": "1.0", "id": sp.id, "source": eventSource, "type": "dev.knative.kafka.event",
			"time": sp.at.Format(time.RFC3339Nano), "data": ev,
		}
		if s := sp.subject(); s != "" {
			ce["subject"] = s
		}
		for _, e := range extensions {
			ce[e[0]] = e[1]
		}
		a.printJSON(ce)
	}
}
