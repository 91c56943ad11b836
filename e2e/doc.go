// Package e2e holds the tests that run the real paysync binary as a child
// process against the sandbox doubles, as a shop would run it: the chaos test
// (chaos_test.go) kills it, restarts its database and lets every CRM double
// misbehave, then checks that nothing was lost, duplicated or moved back.
// It has no code of its own outside the tests.
package e2e
