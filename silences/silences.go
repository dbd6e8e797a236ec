package silences

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// CreatedBy is the createdBy of every silence alertmedic makes; with the
// record named in the comment, it is how a silence is found again.
const CreatedBy = "alertmedic"

// Silence is one of alertmedic's silences: equality matchers on an alert's
// labels, until EndsAt, for the record named Record ("namespace/name").
type Silence struct {
	ID       string
	Matchers map[string]string
	StartsAt time.Time
	EndsAt   time.Time
	Record   string
	// Comment is the silence's comment (Comment(Record, ...) when created).
	Comment string
	// State is Alertmanager's: active, pending or expired.
	State string
}

// Client talks to one Alertmanager.
type Client struct {
	api *amclient.AlertmanagerAPI
	url string
}

// New returns a Client of the Alertmanager at rawURL (such as
// http://alertmanager.monitoring:9093, or one under a path prefix), sending
// through hc.
func New(rawURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("alertmanager url %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("alertmanager url %q: want http:// or https:// and a host, such as http://alertmanager:9093", rawURL)
	}
	t := httptransport.NewWithClient(u.Host, path.Join("/", u.Path, amclient.DefaultBasePath), []string{u.Scheme}, hc)
	return &Client{api: amclient.New(t, strfmt.Default), url: strings.TrimSuffix(u.String(), "/")}, nil
}

// URL is the Alertmanager's URL, for messages.
func (c *Client) URL() string { return c.url }

// Create creates s (its ID is ignored) and returns the new silence's ID.
func (c *Client) Create(ctx context.Context, s Silence) (string, error) {
	ms := make(models.Matchers, 0, len(s.Matchers))
	for _, name := range sortedKeys(s.Matchers) {
		ms = append(ms, &models.Matcher{Name: ptr(name), Value: ptr(s.Matchers[name]), IsRegex: ptr(false), IsEqual: ptr(true)})
	}
	start, end := strfmt.DateTime(s.StartsAt), strfmt.DateTime(s.EndsAt)
	p := silence.NewPostSilencesParamsWithContext(ctx).WithSilence(&models.PostableSilence{Silence: models.Silence{
		Matchers: ms, StartsAt: &start, EndsAt: &end, CreatedBy: ptr(CreatedBy), Comment: ptr(s.Comment),
	}})
	ok, err := c.api.Silence.PostSilences(p)
	if err != nil {
		return "", fmt.Errorf("create a silence in %s: %w", c.url, err)
	}
	if ok.Payload == nil || ok.Payload.SilenceID == "" {
		return "", fmt.Errorf("create a silence in %s: the answer has no silence id", c.url)
	}
	return ok.Payload.SilenceID, nil
}

// Expire expires the silence id. A silence already expired, or unknown to
// Alertmanager (garbage-collected), counts as expired.
func (c *Client) Expire(ctx context.Context, id string) error {
	_, err := c.api.Silence.DeleteSilence(silence.NewDeleteSilenceParamsWithContext(ctx).WithSilenceID(strfmt.UUID(id)))
	var notFound *silence.DeleteSilenceNotFound
	if err == nil || errors.As(err, &notFound) {
		return nil
	}
	return fmt.Errorf("expire silence %s in %s: %w", id, c.url, err)
}

// Mine lists the silences alertmedic created that are active or pending,
// with the record each names.
func (c *Client) Mine(ctx context.Context) ([]Silence, error) {
	ok, err := c.api.Silence.GetSilences(silence.NewGetSilencesParamsWithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list the silences of %s: %w", c.url, err)
	}
	var out []Silence
	for _, g := range ok.Payload {
		if g == nil || g.ID == nil || g.Status == nil || g.Status.State == nil || deref(g.CreatedBy) != CreatedBy {
			continue
		}
		if st := *g.Status.State; st != models.SilenceStatusStateActive && st != models.SilenceStatusStatePending {
			continue
		}
		s := Silence{ID: *g.ID, Comment: deref(g.Comment), State: *g.Status.State, Matchers: map[string]string{}}
		s.Record, _ = RecordOf(s.Comment)
		if g.StartsAt != nil {
			s.StartsAt = time.Time(*g.StartsAt)
		}
		if g.EndsAt != nil {
			s.EndsAt = time.Time(*g.EndsAt)
		}
		for _, m := range g.Matchers {
			if m != nil && m.Name != nil && m.Value != nil && !deref(m.IsRegex) && (m.IsEqual == nil || *m.IsEqual) {
				s.Matchers[*m.Name] = *m.Value
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// recordTag marks the record a silence was made for, in its comment.
var recordTag = regexp.MustCompile(`\[alertmedic\.io/remediation=([a-z0-9.-]+/[a-z0-9.-]+)\]`)

// Comment is the comment of the silence for record ("namespace/name"):
// what alertmedic is doing, how to look at it, the alert's link when it has
// one, and the tag RecordOf reads back.
func Comment(record, action, target, link string) string {
	ns, name, _ := strings.Cut(record, "/")
	c := fmt.Sprintf("alertmedic: %s of %s is being verified; kubectl -n %s get remediation %s", action, target, ns, name)
	if link != "" {
		c += "; alert: " + link
	}
	return c + " [alertmedic.io/remediation=" + record + "]"
}

// RecordOf returns the record ("namespace/name") a comment made by Comment
// names.
func RecordOf(comment string) (string, bool) {
	m := recordTag.FindStringSubmatch(comment)
	if m == nil {
		return "", false
	}
	return m[1], true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
