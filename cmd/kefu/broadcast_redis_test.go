package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/kefutest"
)

// redisForTest is the address of a Redis for the test: KEFU_REDIS_ADDR, else
// a redis-server (KEFU_REDIS_SERVER, else the one on PATH) started for the
// test on a free port. Without either the test skips, or fails under CI.
func redisForTest(t *testing.T) string {
	t.Helper()
	if addr := os.Getenv("KEFU_REDIS_ADDR"); addr != "" {
		return addr
	}
	name := os.Getenv("KEFU_REDIS_SERVER")
	if name == "" {
		name = "redis-server"
	}
	bin, err := exec.LookPath(name)
	if err != nil || name == "none" {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Redis for the shared broadcast test: %s not found and KEFU_REDIS_ADDR not set", name)
		}
		t.Skipf("no Redis: %s not found and KEFU_REDIS_ADDR not set", name)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for rdb.Ping(context.Background()).Err() != nil {
		select {
		case <-tick.C:
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server exited:\n%s", log)
		case <-deadline.C:
			t.Fatalf("redis-server on %s did not answer within %v", addr, waitLimit)
		}
	}
	return addr
}

// TestBroadcastShared: three processes run one broadcast through one Redis
// (--redis, --run-id): each of 3,000 recipients gets exactly one message.
// A last run with the same run id finds every recipient sent.
func TestBroadcastShared(t *testing.T) {
	t.Parallel()
	const n = 3000
	addr := redisForTest(t)
	srv, users := broadcastServer(t, "s", n)
	args := []string{"--to", usersFile(t, t.TempDir(), users), "--text", "sale", "--redis", addr, "--run-id", "test-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		"--rate", "1000"}
	var children []*child
	for range 3 {
		children = append(children, startBroadcast(t, srv, args...))
	}
	for i, c := range children {
		r := c.wait(t)
		// A recipient another process is sending at that moment is
		// "unknown" to this one: 3 is possible, not 1 or 4.
		assert.Contains(t, []int{exitOK, exitUnknown}, r.code, "process %d: %s", i, r)
	}
	for _, u := range users {
		assert.Len(t, srv.Messages(u), 1, u)
	}
	assert.Equal(t, n, srv.Calls(kefutest.PathSend))
	r := broadcastRunChild(t, srv, args...)
	assert.Equal(t, exitOK, r.code, r)
	assert.Equal(t, fmt.Sprintf("sent 0, failed 0, unknown 0, skipped %d (in the journal already: sent %d)", n, n), lastLine(r.stderr))
}
