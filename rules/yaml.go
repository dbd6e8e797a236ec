package rules

import (
	"time"

	"gopkg.in/yaml.v3"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Decoder reads the YAML of one file the way rule files are read: strictly,
// each problem at the line and column of its key or value, every problem of
// the file in one report, merge keys and aliases followed and bounded. The
// rule test format (rules/ruletest) decodes its files with it, so that both
// formats read and report alike.
type Decoder struct{ d *decoder }

// NewDecoder returns a Decoder whose problems name file.
func NewDecoder(file string) *Decoder {
	return &Decoder{d: &decoder{reporter: &reporter{file: file}}}
}

// Field is one key and value of a YAML mapping.
type Field struct {
	Name       string
	Key, Value *yaml.Node
}

// Errorf reports an error at n.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) { d.d.errorf(n, format, args...) }

// SyntaxError reports an error of the YAML parser, at the line it gives.
func (d *Decoder) SyntaxError(err error) { d.d.syntaxError(err) }

// Err is nil when no error was reported, else a *LoadError with every
// problem, in order of position.
func (d *Decoder) Err() error {
	ps := d.d.problems
	sortProblems(ps, nil)
	if !hasErrors(ps) {
		return nil
	}
	return &LoadError{Problems: ps}
}

// Resolve follows aliases to the node they name.
func (d *Decoder) Resolve(n *yaml.Node) *yaml.Node { return d.d.resolve(n) }

// Fields lists the fields of mapping n with merge keys (<<) expanded; a key
// written in n wins over the same key merged in. It reports keys that are
// not plain strings and keys written twice; where names n in messages.
func (d *Decoder) Fields(n *yaml.Node, where string) []Field {
	ps := d.d.pairs(n, where, 0)
	out := make([]Field, len(ps))
	for i, p := range ps {
		out[i] = Field{Name: p.key, Key: p.k, Value: p.v}
	}
	return out
}

// UnknownField reports f, a field that is not in known, and returns the
// known field it probably is, if any.
func (d *Decoder) UnknownField(f Field, where string, known []string) string {
	return d.d.unknownField(pair{key: f.Name, k: f.Key, v: f.Value}, where, known)
}

// StringValue decodes a scalar as a string; an empty value gives "". It
// reports any other node as field of what, ending the message with hint.
func (d *Decoder) StringValue(v *yaml.Node, field, what, hint string) (string, bool) {
	return d.d.str(v, field, what, hint)
}

// BoolValue decodes true or false, reporting anything else.
func (d *Decoder) BoolValue(v *yaml.Node, field, what string) (bool, bool) {
	return d.d.boolean(v, field, what)
}

// IntValue decodes a whole number, reporting anything else.
func (d *Decoder) IntValue(v *yaml.Node, field, what string) (*int64, bool) {
	return d.d.integer(v, field, what)
}

// Tired counts a visit to n and says whether the file has gone past the
// bound on the nodes walked in one file; it reports that once.
func (d *Decoder) Tired(n *yaml.Node) bool { return d.d.tired(n) }

// Exhausted reports whether the walk stopped at that bound.
func (d *Decoder) Exhausted() bool { return d.d.exhausted() }

// KindName describes a node for "got ..." in messages.
func KindName(n *yaml.Node) string { return kindName(n) }

// Suggest returns the option s was most likely meant to be, or "".
func Suggest(s string, options []string) string { return suggest(s, options) }

// DidYouMean is ` (did you mean "x"?)` for the option s was most likely
// meant to be, or "".
func DidYouMean(s string, options []string) string { return didYouMean(s, options) }

// ParseReplicas reads a scale.replicas spec ("4", "+2", "-1", "x1.5") into
// sc, or says what is wrong with it, as the end of a sentence that starts
// with the spec.
func ParseReplicas(s string, sc *v1alpha1.ScaleParams) string { return parseReplicas(s, sc) }

// HumanDuration writes a limit the way the rule format's documentation
// does: 7d, 24h, 1m.
func HumanDuration(d time.Duration) string { return humanDuration(d) }
