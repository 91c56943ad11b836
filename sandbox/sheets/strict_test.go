package sheets

import (
	"net/http"
	"strings"
	"testing"
)

// A cell over 50,000 characters (UTF-16 units, as Google counts) fails the
// whole values:batchUpdate: nothing of it is written.
func TestCellLimitFailsTheWholeBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	long := strings.Repeat("ա", MaxCellChars) + "!" // Armenian letters: one unit each
	status, out := e.do("POST", "/values:batchUpdate", map[string]any{"valueInputOption": "RAW", "data": []any{
		map[string]any{"range": "Sheet1!A1", "values": [][]any{{"fine"}}},
		map[string]any{"range": "Sheet1!A2", "values": [][]any{{long}}},
	}})
	if status != http.StatusBadRequest || errStatus(out) != "INVALID_ARGUMENT" ||
		errMessage(out) != "Your input contains more than the maximum of 50000 characters in a single cell." {
		t.Fatalf("a 50,001-character cell: %d %v", status, out)
	}
	if rows := e.s.Rows("Sheet1"); len(rows) != 0 {
		t.Fatalf("a refused batch wrote %v", rows)
	}
	emoji := strings.Repeat("😀", MaxCellChars/2+1) // two units each
	if status, _ := e.do("POST", "/values/"+enc("Sheet1!A1")+":append?valueInputOption=RAW", map[string]any{"values": [][]any{{emoji}}}); status != http.StatusBadRequest {
		t.Fatalf("25,001 emoji (50,002 units): %d", status)
	}
	e.ok("PUT", "/values/"+enc("Sheet1!A1")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{long[:len(long)-1]}}})
}

// A bad range in values:batchUpdate is named by its place in data.
func TestBatchUpdateNamesTheBadRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	status, out := e.do("POST", "/values:batchUpdate", map[string]any{"valueInputOption": "RAW", "data": []any{
		map[string]any{"range": "Sheet1!A1", "values": [][]any{{"x"}}},
		map[string]any{"range": "Nope!A1", "values": [][]any{{"y"}}},
	}})
	if status != http.StatusBadRequest || !strings.HasPrefix(errMessage(out), "Invalid data[1]: Unable to parse range: Nope!A1") {
		t.Fatalf("a bad range: %d %v", status, out)
	}
}

// RefuseCells refuses any write carrying the text, without naming the item.
func TestRefuseCells(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.s.RefuseCells("poison")
	status, out := e.do("POST", "/values:batchUpdate", map[string]any{"valueInputOption": "RAW", "data": []any{
		map[string]any{"range": "Sheet1!A1", "values": [][]any{{"fine"}}},
		map[string]any{"range": "Sheet1!A2", "values": [][]any{{"a poison pill"}}},
	}})
	if status != http.StatusBadRequest || strings.Contains(errMessage(out), "data[") {
		t.Fatalf("refused cell: %d %v", status, out)
	}
	e.s.RefuseCells("")
	e.ok("PUT", "/values/"+enc("Sheet1!A2")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{"a poison pill"}}})
}
