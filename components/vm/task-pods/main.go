// Command task-pods serves the subset of the Kubernetes core/v1 pods API
// that Cytomine's app engine and its task pods use, and runs each pod's
// containers on the host's Docker engine: kube-apiserver and kubelet for a
// VM without Kubernetes.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "task-pods: configuration:\n"+err.Error())
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		log.Printf("task-pods: %v", err)
		os.Exit(1)
	}
}

func run(cfg *config) error {
	tlsConfig, caPEM, err := newTLS(cfg.serviceHost)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	st, err := openStore(filepath.Join(cfg.stateDir, "pods.json"), 1000)
	if err != nil {
		return fmt.Errorf("loading pods: %w", err)
	}
	eng := newEngine(cfg.dockerSocket)
	if err := waitForEngine(eng); err != nil {
		return err
	}
	rc := &runConfig{namespace: cfg.namespace, network: cfg.network, stateDir: cfg.stateDir,
		serviceHost: cfg.serviceHost, servicePort: cfg.servicePort}
	rn := newRunner(rc, st, eng, caPEM)
	rn.reconcile(context.Background())

	srv := &server{
		namespace:    cfg.namespace,
		auth:         &authenticator{namespace: cfg.namespace, token: cfg.token, podToken: st.podForToken},
		adm:          &admission{hostPaths: cfg.hostPaths, images: cfg.images, quota: cfg.quota},
		store:        st,
		runner:       rn,
		docker:       eng,
		watchTimeout: 30 * time.Minute,
	}
	// Cancelling base ends the watches, which would otherwise hold Shutdown up.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	httpServer := &http.Server{
		Handler:           srv,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.ServeTLS(ln, "", "") }()
	log.Printf("serving namespace %q on %s (Docker API v%s, network %s)", cfg.namespace, cfg.listen, eng.version, cfg.network)

	sig, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-sig.Done():
	}
	// Pods keep running in Docker; the next start reconciles them.
	log.Printf("shutting down")
	cancelBase()
	st.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// waitForEngine gives the Docker engine a while to come up with us.
func waitForEngine(eng *engine) error {
	var err error
	for range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = eng.negotiate(ctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("docker engine unreachable: %w", err)
}
