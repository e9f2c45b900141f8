package backendclient

import (
	"bytes"
	"sync"
	"time"
)

// bodyReleaseWait bounds how long SendEncoded waits for the transport to let
// go of a body after the answer came; past it the encoder drops its buffers
// instead of reusing them.
const bodyReleaseWait = 5 * time.Second

// lentBody lends one request body to the transport, attempt by attempt, and
// says when the transport has closed every reader it was given. net/http may
// go on reading a request body after the answer arrived (a server that answers
// before it has read the whole body): until then the bytes must not change.
type lentBody struct {
	data []byte
	wg   sync.WaitGroup
}

// reader is the request's body source (a retryablehttp.ReaderFunc): each
// reader counts as lent until closed.
func (l *lentBody) reader() (*lentReader, error) {
	l.wg.Add(1)
	return &lentReader{Reader: bytes.NewReader(l.data), lent: l}, nil
}

// released waits until the transport closed every reader, at most d.
func (l *lentBody) released(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// lentReader is one attempt's reader of a lentBody. Len makes retryablehttp
// send a Content-Length; Close (the transport calls it once it is done with
// the body) returns the loan.
type lentReader struct {
	*bytes.Reader
	lent *lentBody
	once sync.Once
}

func (r *lentReader) Close() error {
	r.once.Do(r.lent.wg.Done)
	return nil
}
