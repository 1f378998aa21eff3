package main

import (
	"strings"
	"testing"
)

func validEnv(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	return map[string]string{
		"TASK_PODS_NAMESPACE": "tasks", "TASK_PODS_TOKEN": strings.Repeat("s", 64), "TASK_PODS_NETWORK": "cytomine-tasks",
		"TASK_PODS_SERVICE_HOST": "task-pods", "TASK_PODS_STATE_DIR": dir,
		"TASK_PODS_HOST_PATHS": "/tmp/app-engine, /data/datasets/", "TASK_PODS_QUOTA_CPU": "3500m",
		"TASK_PODS_QUOTA_MEMORY": "6Gi", "TASK_PODS_QUOTA_PODS": "4",
		"TASK_PODS_IMAGES": "127.0.0.1:5000/, cytomine/app-engine-tasks-runner:0165ef7",
	}
}

func TestLoadConfig(t *testing.T) {
	env := validEnv(t)
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != ":6443" || c.servicePort != "6443" || c.dockerSocket != "/var/run/docker.sock" ||
		strings.Join(c.hostPaths, ",") != "/tmp/app-engine,/data/datasets" ||
		c.quota != (usage{cpuMilli: 3500, memBytes: 6 << 30, pods: 4}) {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	for name, value := range map[string]string{
		"TASK_PODS_NAMESPACE":    "",
		"TASK_PODS_LISTEN":       "6443",
		"TASK_PODS_TOKEN":        "too-short",
		"TASK_PODS_NETWORK":      "",
		"TASK_PODS_SERVICE_HOST": "",
		"TASK_PODS_STATE_DIR":    "relative/dir",
		"TASK_PODS_HOST_PATHS":   "/",
		"TASK_PODS_QUOTA_CPU":    "many",
		"TASK_PODS_QUOTA_MEMORY": "0",
		"TASK_PODS_QUOTA_PODS":   "1.5",
		"TASK_PODS_IMAGES":       "/srv/image",
	} {
		env := validEnv(t)
		env[name] = value
		_, err := loadConfig(func(k string) string { return env[k] })
		if err == nil || !strings.HasPrefix(err.Error(), name+": ") {
			t.Errorf("%s=%q: %v", name, value, err)
		}
	}
}
