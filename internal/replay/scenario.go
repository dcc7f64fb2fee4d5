package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// scenarioSettings are the configuration variables a scenario may set: those that decide which
// authorizations should exist. Credentials and endpoints are the emulator's.
var scenarioSettings = []string{
	"IBMCLOUD_REGIONS", "RESTORE_TAG_PREFIX", "RESTORE_ALLOWED_ACCOUNTS", "KMS_CONSUMER_ACCOUNTS",
	"KMS_SCOPE", "SYNC_MODE", "DRY_RUN", "POLICY_CACHE_TTL",
	"BACKUP_AUTHORIZATIONS", "BACKUP_SHARES", "BACKUP_ENTERPRISE_ACCOUNT",
}

// scenario is a world plus ordered steps, run on a fresh emulator.
type scenario struct {
	path        string
	description string
	world       *emulator.World
	config      config.Config
	steps       []scenarioStep
}

// scenarioStep keeps the step's JSON: variables named by key_create steps are substituted in
// it just before it runs.
type scenarioStep struct {
	number int
	raw    json.RawMessage
}

// stepSpec is one step; exactly one of the action fields is set.
type stepSpec struct {
	TagAttach      *tagSpec       `json:"tag_attach"`
	TagDetach      *tagSpec       `json:"tag_detach"`
	SnapshotDelete *string        `json:"snapshot_delete"`
	KeyCreate      *keyCreateSpec `json:"key_create"`
	KeyDelete      *keyDeleteSpec `json:"key_delete"`
	// BackupPolicyCreate and BackupPolicyDelete add and remove a Backup for VPC policy.
	BackupPolicyCreate *emulator.BackupPolicy `json:"backup_policy_create"`
	BackupPolicyDelete *string                `json:"backup_policy_delete"`
	Event              json.RawMessage        `json:"event"`
	EventFile          *string                `json:"event_file"`
	Expect             *[]Authorization       `json:"expect"`
	// ExpectOutcome is the outcome an event or every event of an event file must have.
	ExpectOutcome converge.Outcome `json:"expect_outcome"`
}

type tagSpec struct {
	Snapshot string   `json:"snapshot"` // ID or CRN
	Tags     []string `json:"tags"`
}

type keyCreateSpec struct {
	Instance string `json:"instance"` // GUID
	Name     string `json:"name"`
	Type     string `json:"type"` // root_key (default) or standard_key
	// As names a variable: ${As} in later steps becomes the new key's ID.
	As string `json:"as"`
}

type keyDeleteSpec struct {
	Instance string `json:"instance"`
	Key      string `json:"key"`
	// Force deletes a key that still protects a snapshot, as Key Protect requires.
	Force bool `json:"force"`
}

// Step kinds, as the report names them.
const (
	StepEvent          = "event"
	StepTagAttach      = "tag_attach"
	StepTagDetach      = "tag_detach"
	StepSnapshotDelete = "snapshot_delete"
	StepKeyCreate      = "key_create"
	StepKeyDelete      = "key_delete"
	StepBackupCreate   = "backup_policy_create"
	StepBackupDelete   = "backup_policy_delete"
	StepExpect         = "expect"
)

// kind names the step's action and checks that there is exactly one.
func (s stepSpec) kind() (string, error) {
	var kinds []string
	add := func(set bool, k string) {
		if set {
			kinds = append(kinds, k)
		}
	}
	add(s.TagAttach != nil, StepTagAttach)
	add(s.TagDetach != nil, StepTagDetach)
	add(s.SnapshotDelete != nil, StepSnapshotDelete)
	add(s.KeyCreate != nil, StepKeyCreate)
	add(s.KeyDelete != nil, StepKeyDelete)
	add(s.BackupPolicyCreate != nil, StepBackupCreate)
	add(s.BackupPolicyDelete != nil, StepBackupDelete)
	add(len(s.Event) > 0 && string(s.Event) != "null", StepEvent)
	add(s.EventFile != nil, "event_file")
	add(s.Expect != nil, StepExpect)
	if len(kinds) != 1 {
		return "", fmt.Errorf("want exactly one of tag_attach, tag_detach, snapshot_delete, key_create, key_delete, backup_policy_create, backup_policy_delete, event, event_file, expect; got %d", len(kinds))
	}
	return kinds[0], nil
}

var (
	variablePattern  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	placeholderRegex = regexp.MustCompile(`\$\{([^}]*)\}`)
)

func (s stepSpec) validate(kind string) error {
	if s.ExpectOutcome != "" {
		if kind != StepEvent && kind != "event_file" {
			return errors.New("expect_outcome: only for event and event_file steps")
		}
		if !slices.Contains(converge.Outcomes(), s.ExpectOutcome) {
			return fmt.Errorf("expect_outcome %q: want one of %s", s.ExpectOutcome, outcomeList())
		}
	}
	switch kind {
	case StepTagAttach, StepTagDetach:
		t := s.TagAttach
		if t == nil {
			t = s.TagDetach
		}
		if t.Snapshot == "" || len(t.Tags) == 0 {
			return fmt.Errorf("%s: want a snapshot and at least one tag", kind)
		}
	case StepSnapshotDelete:
		if *s.SnapshotDelete == "" {
			return errors.New("snapshot_delete: want a snapshot ID")
		}
	case StepKeyCreate:
		k := s.KeyCreate
		if k.Instance == "" || k.Name == "" {
			return errors.New("key_create: want an instance and a name")
		}
		if k.Type != "" && k.Type != "root_key" && k.Type != "standard_key" {
			return fmt.Errorf("key_create: type %q: want root_key or standard_key", k.Type)
		}
		if k.As != "" && !variablePattern.MatchString(k.As) {
			return fmt.Errorf("key_create: as %q: want a name of lowercase letters, digits and _", k.As)
		}
	case StepKeyDelete:
		if s.KeyDelete.Instance == "" || s.KeyDelete.Key == "" {
			return errors.New("key_delete: want an instance and a key")
		}
	case StepBackupCreate:
		if b := s.BackupPolicyCreate; b.ID == "" || b.Region == "" || b.Name == "" {
			return errors.New("backup_policy_create: want an id, a region and a name")
		}
	case StepBackupDelete:
		if *s.BackupPolicyDelete == "" {
			return errors.New("backup_policy_delete: want a backup policy ID")
		}
	case "event_file":
		if *s.EventFile == "" {
			return errors.New("event_file: want a path")
		}
	case StepExpect:
		for i, a := range *s.Expect {
			if err := a.validate(); err != nil {
				return fmt.Errorf("expect[%d]: %w", i, err)
			}
		}
	}
	return nil
}

// parseScenario reads a scenario strictly; errors name the field or step.
func parseScenario(path string, data []byte) (*scenario, error) {
	var doc struct {
		Description string            `json:"description"`
		World       json.RawMessage   `json:"world"`
		Config      map[string]string `json:"config"`
		Steps       []json.RawMessage `json:"steps"`
	}
	if err := strictDecode(data, &doc); err != nil {
		return nil, err
	}
	sc := &scenario{path: path, description: doc.Description}
	var err error
	if sc.world, err = scenarioWorld(path, doc.World); err != nil {
		return nil, fmt.Errorf("world: %w", err)
	}
	if sc.config, err = scenarioConfig(doc.Config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(doc.Steps) == 0 {
		return nil, errors.New("steps: want at least one step")
	}
	for i, raw := range doc.Steps {
		if _, _, err := decodeStep(raw); err != nil {
			return nil, fmt.Errorf("steps[%d]: %w", i, err)
		}
		sc.steps = append(sc.steps, scenarioStep{number: i + 1, raw: raw})
	}
	return sc, nil
}

func decodeStep(raw []byte) (stepSpec, string, error) {
	var s stepSpec
	if err := strictDecode(raw, &s); err != nil {
		return s, "", err
	}
	kind, err := s.kind()
	if err == nil {
		err = s.validate(kind)
	}
	return s, kind, err
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// scenarioWorld is the world given inline, as a path relative to the scenario, or the sample
// world when none is given.
func scenarioWorld(path string, raw json.RawMessage) (*emulator.World, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return emulator.SampleWorld(), nil
	}
	var file string
	if json.Unmarshal(raw, &file) == nil {
		return emulator.LoadWorldFile(relativeTo(path, file))
	}
	return emulator.ParseWorld(raw)
}

// relativeTo resolves a path named in a scenario against the scenario's directory.
func relativeTo(scenarioPath, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(scenarioPath), filepath.FromSlash(name))
}

// scenarioConfig is the default configuration with the scenario's settings, and nothing from
// the environment: a scenario means the same on every machine.
func scenarioConfig(settings map[string]string) (config.Config, error) {
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !slices.Contains(scenarioSettings, name) {
			return config.Config{}, fmt.Errorf("%s: not a setting a scenario may change (want one of %s)", name, strings.Join(scenarioSettings, ", "))
		}
	}
	return config.FromEnv(func(name string) (string, bool) { v, ok := settings[name]; return v, ok })
}

// substitute replaces ${name} with the variables' values; an unknown name is an error.
func substitute(raw []byte, vars map[string]string) ([]byte, error) {
	var missing []string
	out := placeholderRegex.ReplaceAllFunc(raw, func(m []byte) []byte {
		name := string(m[2 : len(m)-1])
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("${%s}: no key_create step before this one named it with \"as\"", missing[0])
	}
	return out, nil
}

func outcomeList() string {
	names := make([]string, 0, len(converge.Outcomes()))
	for _, o := range converge.Outcomes() {
		names = append(names, string(o))
	}
	return strings.Join(names, ", ")
}
