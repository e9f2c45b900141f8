package backendclient

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The inbox page is split leniently before it is decoded, so that one item
// that is not JSON at all (a NaN, a bare word, a stray control character
// inside its object) is stepped past like any other unusable item instead of
// failing the whole page and stalling the inbox. The splitter checks only the
// frame: strings, nesting and separators. Each part is then decoded strictly.

// objectFields splits a JSON object into its members' raw values (the last of
// duplicate keys wins, as encoding/json does). Values are not validated.
func objectFields(b []byte) (map[string][]byte, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errors.New("not an object")
	}
	fields := map[string][]byte{}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return fields, checkEnd(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, fmt.Errorf("offset %d: want a member name", i)
		}
		end, err := skipString(b, i)
		if err != nil {
			return nil, err
		}
		var key string
		if err := json.Unmarshal(b[i:end], &key); err != nil {
			return nil, fmt.Errorf("offset %d: member name: %w", i, err)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, fmt.Errorf("offset %d: want ':'", i)
		}
		i = skipSpace(b, i+1)
		vend, err := skipValue(b, i)
		if err != nil {
			return nil, err
		}
		fields[key] = b[i:vend]
		i = skipSpace(b, vend)
		if i >= len(b) {
			return nil, errors.New("unterminated object")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return fields, checkEnd(b, i+1)
		default:
			return nil, fmt.Errorf("offset %d: want ',' or '}'", i)
		}
	}
}

// arrayElements splits a JSON array into its elements' raw values.
func arrayElements(b []byte) ([][]byte, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errors.New("not an array")
	}
	var elems [][]byte
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return elems, checkEnd(b, i+1)
	}
	for {
		end, err := skipValue(b, i)
		if err != nil {
			return nil, err
		}
		elems = append(elems, b[i:end])
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, errors.New("unterminated array")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return elems, checkEnd(b, i+1)
		default:
			return nil, fmt.Errorf("offset %d: want ',' or ']'", i)
		}
	}
}

func checkEnd(b []byte, i int) error {
	if i = skipSpace(b, i); i != len(b) {
		return fmt.Errorf("offset %d: data after the end", i)
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("offset %d: unterminated string", i)
}

// maxNesting bounds the depth skipValue follows (encoding/json allows 10000).
const maxNesting = 10000

// skipValue returns the offset just past the value starting at b[i]: a string,
// an object or array (balanced, strings respected), or a bare token (anything
// up to the next separator, so NaN or a misspelt literal too).
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("unexpected end: want a value")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
				if depth > maxNesting {
					return 0, fmt.Errorf("offset %d: nested deeper than %d", j, maxNesting)
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("offset %d: unterminated %c", i, b[i])
	case ',', '}', ']', ':':
		return 0, fmt.Errorf("offset %d: want a value, got %q", i, b[i])
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j, nil
}

// splitInbox is the lenient reading of an inbox page whose body is not valid
// JSON as a whole: its items split apart, its cursor decoded strictly.
func splitInbox(body []byte) ([]json.RawMessage, int64, error) {
	top, err := objectFields(body)
	if err != nil {
		return nil, 0, err
	}
	var cursor int64
	if c, ok := top["cursor"]; ok {
		if err := json.Unmarshal(c, &cursor); err != nil {
			return nil, 0, fmt.Errorf("cursor: %w", err)
		}
	}
	raw, ok := top["items"]
	if !ok {
		return nil, cursor, nil
	}
	elems, err := arrayElements(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("items: %w", err)
	}
	items := make([]json.RawMessage, len(elems))
	for i, e := range elems {
		items[i] = e
	}
	return items, cursor, nil
}

// itemHead reads what the gateway needs to step past an unusable item and to
// tell whom it may concern: its seq (required), its kind, and for an
// operation its id, localId and name. Each is decoded strictly on its own, so
// a bad value elsewhere in the item does not hide them.
func itemHead(raw []byte) (InboxItem, error) {
	f, err := objectFields(raw)
	if err != nil {
		return InboxItem{}, err
	}
	var it InboxItem
	if err := json.Unmarshal(f["seq"], &it.Seq); err != nil {
		return InboxItem{}, fmt.Errorf("seq: %w", err)
	}
	_ = json.Unmarshal(f["kind"], &it.Kind)
	if it.Kind != KindOperation {
		return it, nil
	}
	of, err := objectFields(f["operation"])
	if err != nil {
		return it, nil
	}
	var op Operation
	_ = json.Unmarshal(of["id"], &op.ID)
	_ = json.Unmarshal(of["localId"], &op.LocalID)
	_ = json.Unmarshal(of["name"], &op.Name)
	if op.ID != "" {
		it.Operation = &op
	}
	return it, nil
}
