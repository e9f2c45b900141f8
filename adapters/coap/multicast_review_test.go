package coap_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"

	"github.com/fieldgate/fieldgate/adapters"
)

// TestMulticastErrorAnswerIgnored: a node that answers the multicast
// GET /.well-known/core with an error (4.04, no links) is no candidate.
func TestMulticastErrorAnswerIgnored(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		run(t, "apt-get", "install", "-y", "iproute2")
	}
	tag := fmt.Sprintf("%04x", os.Getpid()&0xffff)
	ns, host, dev := "fgce"+tag, "fgceh"+tag, "fgced"+tag
	netnsVeth(t, ns, host, dev, "10.201.1.1/24", "10.201.1.2/24")
	l := inNetns(t, ns, func() (*coapNet.UDPConn, error) {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return nil, err
		}
		l, err := coapNet.NewListenUDP("udp4", ":5683")
		if err != nil {
			return nil, err
		}
		if err := l.JoinGroup(ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 1, 187)}); err != nil {
			_ = l.Close()
			return nil, err
		}
		return l, nil
	})
	srv := udp.NewServer(options.WithMux(mux.HandlerFunc(func(w mux.ResponseWriter, _ *mux.Message) {
		_ = w.SetResponse(codes.NotFound, message.TextPlain, nil)
	})))
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Stop(); _ = l.Close(); <-served })

	b := openBus(t, fmt.Sprintf(`{"multicast": {"interfaces": [%q], "groups": ["224.0.1.187"], "wait": "1s"}, "timeout": "1s"}`, host))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cands, err := b.(adapters.Discoverer).Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		t.Errorf("candidate from an error answer: %s %+v", c.LocalID, c.Fingerprint)
	}
}
