package bench

import (
	"slices"
	"sync"
	"time"
)

// sample holds the durations of a run's jobs and how long the run took.
type sample struct {
	mu      sync.Mutex
	d       []time.Duration
	n       int
	elapsed time.Duration
}

func newSample(n int) *sample { return &sample{d: make([]time.Duration, n)} }

func (s *sample) put(i int, d time.Duration) {
	s.mu.Lock()
	s.d[i] = d
	s.n++
	s.mu.Unlock()
}

// perSecond is the jobs done a second over the whole run.
func (s *sample) perSecond() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(int64(float64(s.n)/s.elapsed.Seconds()*10+0.5)) / 10
}

// quantileMS is the q-quantile (nearest rank) of the durations, in milliseconds.
func (s *sample) quantileMS(q float64) float64 {
	return quantileMS(s.d[:s.n], q)
}

// quantileMS is the q-quantile (nearest rank) of ds in milliseconds, 0 for none.
func quantileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := int(float64(len(sorted))*q+0.999999) - 1
	i = min(max(i, 0), len(sorted)-1)
	return ms(sorted[i])
}

// ms is d in milliseconds, to a hundredth.
func ms(d time.Duration) float64 {
	return float64(int64(float64(d)/float64(time.Millisecond)*100+0.5)) / 100
}
