package provider

import (
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Outputs the plugin adds to the inputs.
const (
	keyStdout = "stdout"
	keyStderr = "stderr"
)

// inputKeys are the inputs of each resource type, in the order the diff reports them.
var inputKeys = map[string][]string{
	RemoteCommand: {"connection", "create", "update", "delete", "stdin", "environment", "triggers", "logging", "addPreviousOutputInEnv"},
	LocalCommand: {"create", "update", "delete", "stdin", "environment", "dir", "interpreter", "triggers", "logging",
		"addPreviousOutputInEnv", "assetPaths", "archivePaths"},
	CopyToRemote: {"connection", "source", "remotePath", "triggers"},
}

// runKeys: a change to these re-runs the command on update (update, else create). Changes to the
// other inputs (delete, logging, addPreviousOutputInEnv, connection credentials) are recorded
// without running anything: they only matter for later runs.
var runKeys = map[string]bool{
	"create": true, "update": true, "stdin": true, "environment": true, "dir": true, "interpreter": true,
	"source": true, "remotePath": true,
}

// Plan is what a diff decided.
type Plan struct {
	Changed  []string // inputs whose value or secretness changed
	Replaces []string // inputs whose change replaces the resource
	Run      bool     // an update must run the command (or copy again)
	// DeleteBeforeReplace: the old resource's delete runs before the new one's create, so that
	// it cannot undo what the replacement just did.
	DeleteBeforeReplace bool
}

// HasChanges is false for a no-op.
func (p Plan) HasChanges() bool { return len(p.Changed) > 0 }

// valueChange compares one input: changed at all, and changed in value (not only in secretness).
func valueChange(old, new resource.PropertyValue, oldOK, newOK bool) (changed, valueChanged bool) {
	if !oldOK && !newOK {
		return false, false
	}
	if oldOK != newOK {
		return true, true
	}
	if isUnknown(new) || isUnknown(old) {
		return true, true
	}
	if !plain(old).DeepEquals(plain(new)) {
		return true, true
	}
	return isSecret(old) != isSecret(new), false
}

func lookup(m resource.PropertyMap, key string) (resource.PropertyValue, bool) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || v.IsNull() || (v.IsSecret() && unwrap(v).IsNull()) {
		return resource.PropertyValue{}, false
	}
	return v, true
}

// connectionTargetChanged: the command would now run on another host or as another user.
func connectionTargetChanged(old, new resource.PropertyValue) bool {
	if isUnknown(new) {
		return true
	}
	o, n := unwrap(old), unwrap(new)
	if !o.IsObject() || !n.IsObject() {
		return true
	}
	om, nm := plainMap(o.ObjectValue()), plainMap(n.ObjectValue())
	for _, k := range []string{"host", "port", "user", "proxy"} {
		ov, ook := lookup(om, k)
		nv, nok := lookup(nm, k)
		if _, changed := valueChange(ov, nv, ook, nok); changed {
			return true
		}
	}
	return false
}

// Diff compares the old inputs with the new ones for a resource of type typ.
func Diff(typ string, olds, news resource.PropertyMap) Plan {
	var p Plan
	for _, k := range inputKeys[typ] {
		ov, ook := lookup(olds, k)
		nv, nok := lookup(news, k)
		changed, valueChanged := valueChange(ov, nv, ook, nok)
		if !changed {
			continue
		}
		p.Changed = append(p.Changed, k)
		if !valueChanged {
			continue // only the secretness changed: record it, run nothing
		}
		switch {
		case k == "triggers":
			p.Replaces = append(p.Replaces, k)
		case k == "connection":
			// CopyToRemote copies again to a new target; a command runs again there.
			if !ook || !nok || connectionTargetChanged(ov, nv) {
				p.Run = true
			}
		case runKeys[k]:
			p.Run = true
		}
	}
	if len(p.Replaces) > 0 && typ != CopyToRemote {
		if d, ok := lookup(olds, "delete"); ok && !isUnknown(d) {
			if s := unwrap(d); s.IsString() && s.StringValue() != "" {
				p.DeleteBeforeReplace = true
			}
		}
	}
	sort.Strings(p.Replaces)
	return p
}

// inputsOf returns the inputs part of a resource's state (state = inputs + stdout/stderr).
func inputsOf(typ string, state resource.PropertyMap) resource.PropertyMap {
	in := resource.PropertyMap{}
	for _, k := range inputKeys[typ] {
		if v, ok := state[resource.PropertyKey(k)]; ok {
			in[resource.PropertyKey(k)] = v
		}
	}
	return in
}

// outputsSecret: stdout and stderr are secret when any input that shapes them is. The connection
// is left out: the SDK always makes it secret, and upstream stopped letting that make every
// output secret (pulumi-command#256).
func outputsSecret(typ string, inputs resource.PropertyMap) bool {
	for _, k := range inputKeys[typ] {
		if k == "connection" {
			continue
		}
		if v, ok := inputs[resource.PropertyKey(k)]; ok && isSecret(v) {
			return true
		}
	}
	return false
}
