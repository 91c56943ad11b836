package mapping

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template/parse"

	"github.com/paysync/paysync/core"
)

// messagePattern matches the rendered messages of one status in one language.
type messagePattern struct {
	status core.Status
	lang   string
	re     *regexp.Regexp
	order  int // the submatch holding the order id
}

// patterns builds, once per file, a pattern for every message that names
// its order: literal text as it is, {{.order_id}} captured, any other
// action as anything.
func (m *Mapping) patterns() []messagePattern {
	m.patternsOnce.Do(func() {
		for _, st := range core.Statuses {
			rule := m.statuses[st]
			if rule == nil {
				continue
			}
			for _, lang := range m.languages {
				if t := rule.message[lang]; t != nil && t.t != nil {
					if p, ok := patternOf(t.t.Tree.Root); ok {
						p.status, p.lang = st, lang
						m.patternList = append(m.patternList, p)
					}
				}
			}
		}
	})
	return m.patternList
}

func patternOf(root *parse.ListNode) (messagePattern, bool) {
	var b strings.Builder
	groups, order := 0, 0
	for i, n := range root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			text := string(n.Text)
			if i == 0 {
				text = strings.TrimLeft(text, " \t\r\n")
			}
			if i == len(root.Nodes)-1 {
				text = strings.TrimRight(text, " \t\r\n")
			}
			b.WriteString(regexp.QuoteMeta(text))
		case *parse.ActionNode:
			if f := soleField(&parse.ListNode{Nodes: []parse.Node{n}}); order == 0 && slices.Equal(f, []string{"order_id"}) {
				groups++
				order = groups
				b.WriteString(`(\S+?)`)
				continue
			}
			b.WriteString(`.*?`)
		default:
			b.WriteString(`.*?`) // if, with, range: whatever they printed
		}
	}
	if order == 0 {
		return messagePattern{}, false
	}
	re, err := regexp.Compile(`^(?s)` + b.String() + `$`)
	if err != nil {
		return messagePattern{}, false
	}
	return messagePattern{re: re, order: order}, true
}

// ReadMessage reads a sent message back through a messaging connector's
// file: which status's message it is, in which language, and the order id
// it names. A double that holds what a messaging connector sent uses it to
// tell which order each message was about (as CRM doubles read a record's
// status back through StatusValues). ok is false when no message that
// names its order ({{.order_id}}) matches.
func (m *Mapping) ReadMessage(text string) (st core.Status, lang, orderID string, ok bool) {
	text = strings.TrimSpace(text)
	for _, p := range m.patterns() {
		if sub := p.re.FindStringSubmatch(text); sub != nil {
			return p.status, p.lang, sub[p.order], true
		}
	}
	return "", "", "", false
}

// patternState is kept in Mapping; its zero value is ready.
type patternState struct {
	patternsOnce sync.Once
	patternList  []messagePattern
}
