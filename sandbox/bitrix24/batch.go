package bitrix24

import (
	"net/http"
	"regexp"
	"strings"
	"time"
)

// batch runs up to 50 commands given as "method?query" strings, in the order
// sent. The answer is always 200; per-command failures go to result_error.
// Caller holds mu; the whole batch counted once against the leaky bucket.
func (p *Portal) batch(params *omap) (any, bool, *apiError) {
	cv, _ := params.Get("cmd")
	cmds := object(cv)
	if cmds.Len() > MaxBatchCommands {
		return nil, false, &apiError{status: http.StatusBadRequest, code: "ERROR_BATCH_LENGTH_EXCEEDED", descr: "Max batch length exceeded"}
	}
	hv, _ := params.Get("halt")
	halt := truthy(hv)
	results, errs, totals, nexts, times := newOmap(), newOmap(), newOmap(), newOmap(), newOmap()
	created := false
	for _, key := range cmds.Keys() {
		method, query, _ := strings.Cut(str(cmds.vals[key]), "?")
		method = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(method), ".json"))
		if method == "batch" {
			errs.Set(key, (&apiError{code: "ERROR_BATCH_METHOD_NOT_ALLOWED", descr: "Method is not allowed for batch usage"}).body())
			if halt {
				break
			}
			continue
		}
		sub := newOmap()
		parseQuery(query, sub)
		substitute(sub, results)
		p.stats.BatchCommands++
		started := p.now()
		out, e := p.call(method, sub)
		if e != nil {
			errs.Set(key, e.body())
			if halt {
				break
			}
			continue
		}
		created = created || out.created
		results.Set(key, out.result)
		if out.total != nil {
			totals.Set(key, *out.total)
		}
		if out.next != nil {
			nexts.Set(key, *out.next)
		}
		var resetAt time.Time
		var used time.Duration
		if w := p.operating[method]; w != nil {
			resetAt, used = w.start.Add(OperatingWindow), w.used
		}
		times.Set(key, timing(started, p.now(), resetAt, used))
	}
	res := newOmap()
	res.Set("result", results)
	res.Set("result_error", errs)
	res.Set("result_total", totals)
	res.Set("result_next", nexts)
	res.Set("result_time", times)
	return res, created, nil
}

var (
	resultRef = regexp.MustCompile(`\$result\[([^\]]+)\]((?:\[[^\]]*\])*)`)
	refSeg    = regexp.MustCompile(`\[([^\]]*)\]`)
)

// substitute replaces $result[key][sub]… references in every string value of
// params with what earlier commands returned. A value that is exactly one
// reference takes the referenced value itself; otherwise it is interpolated.
func substitute(params *omap, results *omap) {
	for _, k := range params.Keys() {
		switch v := params.vals[k].(type) {
		case *omap:
			substitute(v, results)
		case string:
			if !strings.Contains(v, "$result[") {
				continue
			}
			if m := resultRef.FindStringSubmatchIndex(v); m != nil && m[0] == 0 && m[1] == len(v) {
				params.vals[k] = resolveRef(v, results)
				continue
			}
			params.vals[k] = resultRef.ReplaceAllStringFunc(v, func(ref string) string {
				return str(resolveRef(ref, results))
			})
		}
	}
}

func resolveRef(ref string, results *omap) any {
	m := resultRef.FindStringSubmatch(ref)
	if m == nil {
		return ""
	}
	cur, ok := results.Get(m[1])
	if !ok {
		return ""
	}
	for _, seg := range refSeg.FindAllStringSubmatch(m[2], -1) {
		switch t := cur.(type) {
		case *omap:
			cur, _ = t.Get(seg[1])
		case []any:
			i, ok := toInt(seg[1])
			if !ok || i < 0 || i >= len(t) {
				return ""
			}
			cur = t[i]
		default:
			return ""
		}
	}
	if cur == nil {
		return ""
	}
	return cur
}
