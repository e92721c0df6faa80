package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/kefu-go/kefu/redisstore"
	"github.com/redis/go-redis/v9"
)

// Every instance of a service builds its client this way: the first to need
// a token fetches it, the others take it from Redis, and a token WeChat
// rejects is refreshed once for all of them.
func ExampleNewTokenStore() {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	defer rdb.Close()
	logger := slog.Default()

	tokens, err := kefu.NewTokenSource(os.Getenv("WECHAT_APPID"), os.Getenv("WECHAT_SECRET"),
		kefu.WithTokenStore(redisstore.NewTokenStore(rdb)), kefu.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	client, err := kefu.NewClient(tokens, kefu.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer client.CloseIdleConnections()
	if _, err := client.Send(context.Background(), kefu.NewText("OPENID", "您好")); err != nil {
		log.Print(err)
	}
}

// With Redis unreachable, a source sends on with a token of its own (and
// logs the outage once, at warn level); WithTokenStoreFailClosed makes it
// fail instead. Here the Redis client's dialer fails, as when Redis is down,
// and kefutest stands in for WeChat.
func ExampleNewTokenStore_redisDown() {
	wechat := kefutest.NewServer()
	defer wechat.Close()
	wechat.Interact("o-user", kefutest.UserMessage)

	rdb := redis.NewClient(&redis.Options{
		Addr:          "redis:6379",
		MaxRetries:    -1, // fail fast: no retries
		DialerRetries: 1,
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("connection refused")
		},
	})
	defer rdb.Close()
	store := redisstore.NewTokenStore(rdb)
	ctx := context.Background()

	_, err := wechat.Client(kefu.WithTokenStore(store)).Send(ctx, kefu.NewText("o-user", "hello"))
	fmt.Println("fail open:", err)

	_, err = wechat.Client(kefu.WithTokenStore(store), kefu.WithTokenStoreFailClosed()).Send(ctx, kefu.NewText("o-user", "hello"))
	fmt.Println("fail closed:", errors.Is(err, kefu.ErrTokenStoreUnavailable))
	// Output:
	// fail open: <nil>
	// fail closed: true
}

// Every instance of a service that receives WeChat's callbacks gives its
// callback.Handler a Deduper on the same Redis: WeChat's retries of a
// message, wherever they land, run the handler once.
func ExampleNewDeduper() {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), MaxRetries: 1, DialerRetries: 1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer rdb.Close()

	h, err := callback.NewHandler(callback.Config{
		Token:          os.Getenv("WECHAT_TOKEN"),
		AppID:          os.Getenv("WECHAT_APPID"),
		EncodingAESKey: os.Getenv("WECHAT_AES_KEY"),
		Dedup:          redisstore.NewDeduper(rdb),
		Logger:         slog.Default(),
	}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		if m.MsgType == callback.MsgTypeText {
			return callback.ReplyText("收到: " + m.Content), nil
		}
		return nil, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":8080", Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Print(srv.ListenAndServe())
}

// Two Dedupers stand for two instances: the first to claim a message's key
// has it until the ttl is over or it releases it. miniredis stands in for
// Redis here.
func ExampleDeduper_Claim() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	a, b := redisstore.NewDeduper(rdb), redisstore.NewDeduper(rdb)
	ctx := context.Background()

	ok, _ := a.Claim(ctx, "gh_x/m/42", 30*time.Second)
	fmt.Println("instance a:", ok)
	ok, _ = b.Claim(ctx, "gh_x/m/42", 30*time.Second)
	fmt.Println("instance b:", ok)
	_ = b.Release(ctx, "gh_x/m/42") // not b's: nothing happens
	ok, _ = b.Claim(ctx, "gh_x/m/42", 30*time.Second)
	fmt.Println("instance b after its release:", ok)
	_ = a.Release(ctx, "gh_x/m/42") // a's handler failed: a retry may run it
	ok, _ = b.Claim(ctx, "gh_x/m/42", 30*time.Second)
	fmt.Println("instance b after a's release:", ok)
	// Output:
	// instance a: true
	// instance b: false
	// instance b after its release: false
	// instance b after a's release: true
}

// Every instance of a service gives its client a tracker on the same Redis:
// the callbacks any instance receives open the user's windows for all, and
// a quota is spent once between them. The callback handler tells the
// tracker what users did (callback.Config.Windows), once per message.
func ExampleNewWindowStore() {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), MaxRetries: 1, DialerRetries: 1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer rdb.Close()
	logger := slog.Default()

	tracker := kefu.NewWindowTracker(redisstore.NewWindowStore(rdb), kefu.WithTrackerLogger(logger))
	client, err := kefu.New(os.Getenv("WECHAT_APPID"), os.Getenv("WECHAT_SECRET"),
		kefu.WithWindows(tracker), kefu.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer client.CloseIdleConnections()

	h, err := callback.NewHandler(callback.Config{Token: os.Getenv("WECHAT_TOKEN"), Windows: tracker},
		func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
			go func() {
				_, err := client.Send(context.WithoutCancel(ctx), kefu.NewText(m.FromUserName, "您好"))
				var refused *kefu.WindowError
				if errors.As(err, &refused) {
					logger.Info("not sent: no window or no message left", "err", err) // no call to WeChat
				}
			}()
			return nil, nil
		})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":8080", Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Print(srv.ListenAndServe())
}

// Two trackers stand for two instances on one Redis: the scan one of them
// saw allows 3 messages, wherever they are sent from. miniredis stands in
// for Redis here, kefutest for WeChat.
func ExampleWindowStore_shared() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	wechat := kefutest.NewServer(kefutest.WithFrozenClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)))
	defer wechat.Close()
	ctx := context.Background()

	a := kefu.NewWindowTracker(redisstore.NewWindowStore(rdb), kefu.WithTrackerClock(wechat.Now))
	b := kefu.NewWindowTracker(redisstore.NewWindowStore(rdb), kefu.WithTrackerClock(wechat.Now))
	wechat.Interact("o-user", kefutest.Scan)
	_ = a.Observe(ctx, "o-user", kefu.ActionScan, wechat.Now()) // instance a got the callback

	clientA, clientB := wechat.Client(kefu.WithWindows(a)), wechat.Client(kefu.WithWindows(b))
	for i, c := range []*kefu.Client{clientA, clientB, clientB, clientA} {
		_, err := c.Send(ctx, kefu.NewText("o-user", "hello"))
		fmt.Printf("send %d: %v\n", i+1, err)
	}
	fmt.Println("sends that reached WeChat:", wechat.Calls(kefutest.PathSend))
	// Output:
	// send 1: <nil>
	// send 2: <nil>
	// send 3: <nil>
	// send 4: kefu: send to o-user refused locally by the window tracker: reply quota used up (45047) until 2026-11-30T08:01:00Z
	// sends that reached WeChat: 3
}

// Every process of a broadcast runs the same input with a Journal of one
// run and a Limiter of one key: together they send each message once, at
// 20 a second in all. Running it again (a process crashed, or the day's
// quota ran out: 45009) resumes it.
func ExampleNewJournal() {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), MaxRetries: 1, DialerRetries: 1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer rdb.Close()
	client, err := kefu.New(os.Getenv("WECHAT_APPID"), os.Getenv("WECHAT_SECRET"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.CloseIdleConnections()
	openIDs := []string{"o-1", "o-2", "o-3"} // the same list, in the same order, in every process

	msgs := func(yield func(*kefu.Message) bool) {
		for _, id := range openIDs {
			if !yield(kefu.NewText(id, "双十二: 全场八折")) {
				return
			}
		}
	}
	journal := redisstore.NewJournal(rdb, "2026-12-12-promo")
	limiter := redisstore.NewLimiter(rdb, os.Getenv("WECHAT_APPID")+"/send", 20)
	for res, err := range client.SendAll(context.Background(), msgs,
		kefu.BulkJournal(journal), kefu.BulkLimiter(limiter), kefu.BulkConcurrency(8)) {
		if err != nil {
			log.Fatal(err) // Redis failed, or the input changed since the run began
		}
		if res.Status != kefu.StatusSent && res.Status != kefu.StatusSkipped {
			log.Printf("%s: %s: %v", res.OpenID, res.Status, res.Err)
		}
	}
}

// Two Journals of one run stand for two processes: an item one of them
// claimed is the other's to skip, and a changed input is refused.
// miniredis stands in for Redis here.
func ExampleJournal_Claim() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	a, b := redisstore.NewJournal(rdb, "promo"), redisstore.NewJournal(rdb, "promo")
	ctx := context.Background()
	at := time.Date(2026, 12, 12, 10, 0, 0, 0, time.UTC)

	_, ok, _ := a.Claim(ctx, kefu.Claim{Key: "o-user#0", Hash: "h1", At: at})
	fmt.Println("process a:", ok)
	prev, ok, _ := b.Claim(ctx, kefu.Claim{Key: "o-user#0", Hash: "h1", At: at})
	fmt.Println("process b:", ok, prev.State)
	_ = a.Record(ctx, kefu.JournalEntry{Key: "o-user#0", State: kefu.JournalSent, MsgID: 42, At: at})
	prev, ok, _ = b.Claim(ctx, kefu.Claim{Key: "o-user#0", Hash: "h1", At: at, RetryUnknown: true})
	fmt.Println("process b, once sent:", ok, prev.State, prev.MsgID)
	_, _, err := b.Claim(ctx, kefu.Claim{Key: "o-user#0", Hash: "h2", At: at})
	fmt.Println("another message:", errors.Is(err, kefu.ErrJournalMismatch))
	// Output:
	// process a: true
	// process b: false attempted
	// process b, once sent: false sent 42
	// another message: true
}

// Two clients with Journals of one run stand for two processes sending the
// same broadcast: the second finds every item taken. miniredis stands in
// for Redis here, kefutest for WeChat.
func ExampleJournal_Entries() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	wechat := kefutest.NewServer()
	defer wechat.Close()
	ctx := context.Background()
	users := []string{"o-1", "o-2", "o-3"}
	for _, id := range users {
		wechat.Interact(id, kefutest.UserMessage) // they wrote to the account
	}
	msgs := func(yield func(*kefu.Message) bool) {
		for _, id := range users {
			if !yield(kefu.NewText(id, "hello")) {
				return
			}
		}
	}

	for _, process := range []string{"a", "b"} {
		sent, skipped := 0, 0
		for res, err := range wechat.Client().SendAll(ctx, msgs, kefu.BulkJournal(redisstore.NewJournal(rdb, "run-1"))) {
			if err != nil {
				log.Fatal(err)
			}
			switch res.Status {
			case kefu.StatusSent:
				sent++
			case kefu.StatusSkipped:
				skipped++
			}
		}
		fmt.Printf("process %s: %d sent, %d skipped\n", process, sent, skipped)
	}
	entries, err := redisstore.NewJournal(rdb, "run-1").Entries(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("o-2:", entries["o-2#1"].State)
	fmt.Println("messages WeChat received:", wechat.Calls(kefutest.PathSend))
	// Output:
	// process a: 3 sent, 0 skipped
	// process b: 0 sent, 3 skipped
	// o-2: sent
	// messages WeChat received: 3
}

// Two Limiters on one key stand for two processes: they share 10 tokens a
// second, so 6 Waits between them take half a second, not a quarter.
// miniredis stands in for Redis here.
func ExampleNewLimiter() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	a, b := redisstore.NewLimiter(rdb, "wx1234/send", 10), redisstore.NewLimiter(rdb, "wx1234/send", 10)
	ctx := context.Background()

	start := time.Now()
	for range 3 {
		_ = a.Wait(ctx)
		_ = b.Wait(ctx)
	}
	fmt.Println("6 tokens took half a second:", time.Since(start) >= 500*time.Millisecond)
	// Output:
	// 6 tokens took half a second: true
}

// A Wait ends with its context; the token it was waiting for is given back
// to the others. miniredis stands in for Redis here.
func ExampleLimiter_Wait() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	l := redisstore.NewLimiter(rdb, "wx1234/send", 1.0/60) // one a minute

	fmt.Println("first:", l.Wait(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println("second:", l.Wait(ctx))
	// Output:
	// first: <nil>
	// second: context deadline exceeded
}
