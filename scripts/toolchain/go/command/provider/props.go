package provider

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// errUnknown says that a value is not known yet (a preview with outputs of other resources).
var errUnknown = errors.New("value is not known yet")

// unwrap strips any secret wrappers around v (not inside it).
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsOutput() && v.OutputValue().Known {
		return unwrap(v.OutputValue().Element)
	}
	return v
}

// isUnknown is true when v, or anything inside it, is not known yet.
func isUnknown(v resource.PropertyValue) bool {
	return v.ContainsUnknowns()
}

// isSecret is true when v or anything inside it is secret.
func isSecret(v resource.PropertyValue) bool {
	return v.ContainsSecrets()
}

// plain removes every secret wrapper at any depth, so that values that only differ in secretness
// compare equal.
func plain(v resource.PropertyValue) resource.PropertyValue {
	v = unwrap(v)
	switch {
	case v.IsArray():
		in := v.ArrayValue()
		out := make([]resource.PropertyValue, len(in))
		for i, e := range in {
			out[i] = plain(e)
		}
		return resource.NewArrayProperty(out)
	case v.IsObject():
		return resource.NewObjectProperty(plainMap(v.ObjectValue()))
	}
	return v
}

func plainMap(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, e := range m {
		if e.IsNull() {
			continue
		}
		out[k] = plain(e)
	}
	return out
}

// get returns the (unwrapped) value of key, and whether it is set to something other than null.
func get(m resource.PropertyMap, key string) (resource.PropertyValue, bool) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return resource.PropertyValue{}, false
	}
	v = unwrap(v)
	if v.IsNull() {
		return v, false
	}
	return v, true
}

// getString reads an optional string. A missing or null value gives nil.
func getString(m resource.PropertyMap, key string) (*string, error) {
	v, ok := get(m, key)
	if !ok {
		return nil, nil
	}
	if v.IsComputed() || v.ContainsUnknowns() {
		return nil, fmt.Errorf("%s: %w", key, errUnknown)
	}
	if !v.IsString() {
		return nil, fmt.Errorf("%s must be a string, not %s", key, v.TypeString())
	}
	s := v.StringValue()
	return &s, nil
}

// getNumber reads an optional number; def when missing.
func getNumber(m resource.PropertyMap, key string, def float64) (float64, error) {
	v, ok := get(m, key)
	if !ok {
		return def, nil
	}
	if v.ContainsUnknowns() {
		return 0, fmt.Errorf("%s: %w", key, errUnknown)
	}
	if !v.IsNumber() {
		return 0, fmt.Errorf("%s must be a number, not %s", key, v.TypeString())
	}
	return v.NumberValue(), nil
}

// getBool reads an optional boolean; def when missing.
func getBool(m resource.PropertyMap, key string, def bool) (bool, error) {
	v, ok := get(m, key)
	if !ok {
		return def, nil
	}
	if v.ContainsUnknowns() {
		return false, fmt.Errorf("%s: %w", key, errUnknown)
	}
	if !v.IsBool() {
		return false, fmt.Errorf("%s must be a boolean, not %s", key, v.TypeString())
	}
	return v.BoolValue(), nil
}

// getStringMap reads an optional map of strings (environment).
func getStringMap(m resource.PropertyMap, key string) (map[string]string, error) {
	v, ok := get(m, key)
	if !ok {
		return nil, nil
	}
	if v.ContainsUnknowns() {
		return nil, fmt.Errorf("%s: %w", key, errUnknown)
	}
	if !v.IsObject() {
		return nil, fmt.Errorf("%s must be a map of strings, not %s", key, v.TypeString())
	}
	out := map[string]string{}
	for k, e := range v.ObjectValue() {
		e = unwrap(e)
		if e.IsNull() {
			continue
		}
		if !e.IsString() {
			return nil, fmt.Errorf("%s.%s must be a string, not %s", key, k, e.TypeString())
		}
		out[string(k)] = e.StringValue()
	}
	return out, nil
}

// getStringList reads an optional list of strings (interpreter).
func getStringList(m resource.PropertyMap, key string) ([]string, error) {
	v, ok := get(m, key)
	if !ok {
		return nil, nil
	}
	if v.ContainsUnknowns() {
		return nil, fmt.Errorf("%s: %w", key, errUnknown)
	}
	if !v.IsArray() {
		return nil, fmt.Errorf("%s must be a list of strings, not %s", key, v.TypeString())
	}
	var out []string
	for i, e := range v.ArrayValue() {
		e = unwrap(e)
		if !e.IsString() {
			return nil, fmt.Errorf("%s[%d] must be a string, not %s", key, i, e.TypeString())
		}
		out = append(out, e.StringValue())
	}
	return out, nil
}

// secretStrings collects every string inside a secret anywhere in m: the values the log masks.
func secretStrings(m resource.PropertyMap) []string {
	seen := map[string]bool{}
	var walk func(v resource.PropertyValue, inSecret bool)
	walk = func(v resource.PropertyValue, inSecret bool) {
		switch {
		case v.IsSecret():
			walk(v.SecretValue().Element, true)
		case v.IsOutput():
			walk(v.OutputValue().Element, inSecret || v.OutputValue().Secret)
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(e, inSecret)
			}
		case v.IsObject():
			for _, e := range v.ObjectValue() {
				walk(e, inSecret)
			}
		case v.IsString() && inSecret:
			s := v.StringValue()
			// Each line of a multi-line secret (a key, a script) is masked on its own, since the log
			// is written line by line. Very short strings would mask ordinary words.
			for _, line := range strings.Split(s, "\n") {
				line = strings.TrimSpace(line)
				if len(line) >= 4 {
					seen[line] = true
				}
			}
		}
	}
	for _, v := range m {
		walk(v, false)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	// Longest first, so that a secret containing another is masked whole.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// masker replaces every known secret value in a log line with "[secret]".
type masker struct{ r *strings.Replacer }

func newMasker(secrets []string) masker {
	if len(secrets) == 0 {
		return masker{}
	}
	args := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		args = append(args, s, "[secret]")
	}
	return masker{strings.NewReplacer(args...)}
}

func (m masker) mask(s string) string {
	if m.r == nil {
		return s
	}
	return m.r.Replace(s)
}

// maskerFor masks the secrets of a resource's inputs (and previous state) in its log. Of the
// connection, which the SDK always makes secret as a whole, only the credentials are masked, so
// that host and user names stay readable.
func maskerFor(maps ...resource.PropertyMap) masker {
	var secrets []string
	for _, m := range maps {
		rest := resource.PropertyMap{}
		for k, v := range m {
			if k == "connection" {
				secrets = append(secrets, credentialStrings(v)...)
				continue
			}
			rest[k] = v
		}
		secrets = append(secrets, secretStrings(rest)...)
	}
	return newMasker(secrets)
}

func credentialStrings(conn resource.PropertyValue) []string {
	c := unwrap(conn)
	if !c.IsObject() {
		return nil
	}
	creds := resource.PropertyMap{}
	for _, k := range []resource.PropertyKey{"password", "privateKey", "privateKeyPassword"} {
		if v, ok := c.ObjectValue()[k]; ok {
			creds[k] = resource.MakeSecret(plain(v))
		}
	}
	out := secretStrings(creds)
	if p, ok := c.ObjectValue()["proxy"]; ok {
		out = append(out, credentialStrings(p)...)
	}
	return out
}
