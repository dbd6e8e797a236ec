package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Decode reads one notification from r, at most limit bytes of it, and
// decodes and validates it exactly as POST /webhook does: the same checks,
// the same error messages (those of a 400 answer, saying where in the body
// the problem is), and the fingerprints Alertmanager would have sent filled
// in. A body larger than limit is an error, as it is a 413 for the webhook.
func Decode(r io.Reader, limit int64) (*Message, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read notification: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("notification is larger than the limit of %d bytes", limit)
	}
	msg, _, err := decode(body)
	if err != nil {
		return nil, err
	}
	return msg, nil
}

// decode decodes and validates a notification. On a validation error, the
// decoded message is returned too (its group key is worth logging); on a
// decoding error, an empty one. Alertmanager's payloads take decodeFast;
// what it leaves, encoding/json decodes, and its errors are the messages.
func decode(body []byte) (*Message, tally, error) {
	msg, ok := decodeFast(body)
	if !ok {
		msg = &Message{}
		if err := json.Unmarshal(body, msg); err != nil {
			return &Message{}, tally{}, errors.New(decodeError(body, err))
		}
	}
	t, err := validate(msg)
	return msg, t, err
}
