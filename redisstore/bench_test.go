package redisstore

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
)

// BenchmarkSendStore measures Send with a token source sharing its tokens
// through the Redis store against Send with a process-local source, in
// alternating rounds of the same run, on one in-process WeChat stand-in:
//
//	KEFU_REDIS_ADDR=127.0.0.1:6399 go test -run '^$' -bench SendStore -count 6 .
//
// Reported per op: ns/op (with the store), local-ns/op (without), ratio
// (the two walls: 1.00 means the store costs nothing once the token is
// cached) and redis-cmds/op (0: the hot path never reaches Redis).
func BenchmarkSendStore(b *testing.B) { compareStore(b, 1) }

// BenchmarkSendStoreParallel is BenchmarkSendStore with 64 goroutines
// sending (32 per GOMAXPROCS on a 2-core machine).
func BenchmarkSendStoreParallel(b *testing.B) { compareStore(b, 32*runtime.GOMAXPROCS(0)) }

func compareStore(b *testing.B, par int) {
	rdb, prefix := realRedis(b)
	counter := &commandCounter{}
	rdb.AddHook(counter)
	const tok = "BENCHTOKEN_0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		rw.Header().Set("Content-Type", "application/json; charset=utf-8")
		if r.URL.Path == "/cgi-bin/stable_token" {
			io.WriteString(rw, `{"access_token":"`+tok+`","expires_in":7200}`)
			return
		}
		io.WriteString(rw, `{"errcode":0,"errmsg":"ok"}`)
	}))
	b.Cleanup(srv.Close)
	client := func(opts ...kefu.Option) *kefu.Client {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128}}
		b.Cleanup(hc.CloseIdleConnections)
		opts = append([]kefu.Option{kefu.WithBaseURL(srv.URL), kefu.WithHTTPClient(hc)}, opts...)
		ts, err := kefu.NewTokenSource("wxbench", "benchsecret", opts...)
		if err != nil {
			b.Fatal(err)
		}
		c, err := kefu.NewClient(ts, opts...)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	shared := client(kefu.WithTokenStore(NewTokenStore(rdb, WithPrefix(prefix))))
	local := client()
	msg := kefu.NewText("oBENCH_openid_0123456789", "您好，这是一条客服消息 <a href=\"https://example.com/?a=1&b=2\">详情</a>")
	run := func(c *kefu.Client, n int) time.Duration {
		var next atomic.Int64
		var failed atomic.Value
		var wg sync.WaitGroup
		start := time.Now()
		for g := 0; g < par; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if _, err := c.Send(context.Background(), msg); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// Warm both: connections, the token (from Redis for shared), pools.
	run(shared, 2*par)
	run(local, 2*par)
	cmds := counter.cmds.Load()
	b.ResetTimer()
	var withStore, without time.Duration
	const rounds = 10
	n := max(b.N/rounds, 1)
	for r := 0; r < rounds; r++ {
		// Alternate which goes first, so that neither pays for the other.
		if r%2 == 0 {
			without += run(local, n)
			withStore += run(shared, n)
		} else {
			withStore += run(shared, n)
			without += run(local, n)
		}
	}
	b.StopTimer()
	total := float64(n * rounds)
	b.ReportMetric(float64(withStore.Nanoseconds())/total, "ns/op")
	b.ReportMetric(float64(without.Nanoseconds())/total, "local-ns/op")
	b.ReportMetric(float64(withStore)/float64(without), "ratio")
	b.ReportMetric(float64(counter.cmds.Load()-cmds)/total, "redis-cmds/op")
}

// BenchmarkWindowStoreUpdate measures one Update on the real Redis: a
// reservation (the round trip a tracker adds to each Send) from a user
// with three windows, one at a time:
//
//	go test -run '^$' -bench WindowStoreUpdate -count 6 .
//
// Reported per op besides ns/op: redis-cmds/op (1: EVALSHA, one round
// trip).
func BenchmarkWindowStoreUpdate(b *testing.B) {
	rdb, prefix := realRedis(b)
	counter := &commandCounter{}
	rdb.AddHook(counter)
	store := NewWindowStore(rdb, WithWindowPrefix(prefix+":windows:"))
	ctx := context.Background()
	now := time.Now()
	rule, _ := kefu.ActionUserMessage.Rule()
	rule.Messages = 1 << 30 // never runs out (the ops' clock stands still)
	// Three windows, so the script chooses among them.
	for _, a := range []kefu.Action{kefu.ActionUserMessage, kefu.ActionScan, kefu.ActionPayment} {
		r, _ := a.Rule()
		if a == kefu.ActionUserMessage {
			r = rule
		}
		if _, err := store.Update(ctx, "oBENCH", kefu.WindowOp{Kind: kefu.OpObserve, Action: a, Rule: r, At: now}); err != nil {
			b.Fatal(err)
		}
	}
	cmds := counter.cmds.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := store.Update(ctx, "oBENCH", kefu.WindowOp{Kind: kefu.OpReserve, At: now})
		if err != nil || out.Reserved.Action == 0 {
			b.Fatal(err, out)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(counter.cmds.Load()-cmds)/float64(b.N), "redis-cmds/op")
}
