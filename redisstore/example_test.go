package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"

	"github.com/kefu-go/kefu"
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
