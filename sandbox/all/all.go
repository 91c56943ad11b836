// Package all registers every local double of this release with package
// sandbox: the payment providers' checkouts and the CRMs' APIs. Each file
// here adapts one double (a package of its own under sandbox/, written from
// the vendor's documents and not from paysync's code) to the sandbox's
// interfaces, and is the only place that knows both the double and the
// paysync settings that point at it. A new double is one more file here.
//
// Only `paysync sandbox`, `paysync demo`, the benchmark and tests import
// this package; a test (TestProductionImportsNoDouble in cmd/paysync) keeps
// production packages away from the doubles.
package all
