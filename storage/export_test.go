package storage

// SetSearchWindow makes ListOrders read only the newest n orders before
// it turns to the index, so that a test of a few orders crosses it.
func SetSearchWindow(n int) (restore func()) {
	old := searchWindow
	searchWindow = n
	return func() { searchWindow = old }
}
