package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Alertmanager is a real Alertmanager on a loopback port, without
// clustering.
type Alertmanager struct {
	Bin string
	// URL is its base URL, http://127.0.0.1:<port>.
	URL string
	// ConfigFile, DataDir and LogPath are in the directory it was started
	// in.
	ConfigFile, DataDir, LogPath string
	Port                         int
	Proc                         *Process
}

// BlackholeConfig routes every alert to a receiver that sends nothing.
const BlackholeConfig = `route:
  receiver: blackhole
  group_wait: 1h
receivers:
- name: blackhole
`

// StartAlertmanager writes config into dir and starts bin there, waiting
// until it is ready.
func StartAlertmanager(bin, dir, config string) (*Alertmanager, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	am := &Alertmanager{
		Bin: bin, Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port),
		ConfigFile: filepath.Join(dir, "alertmanager.yml"), DataDir: filepath.Join(dir, "data"),
		LogPath: filepath.Join(dir, "alertmanager.log"),
	}
	if err := os.WriteFile(am.ConfigFile, []byte(config), 0o600); err != nil {
		return nil, err
	}
	return am, am.Start()
}

// Start starts Alertmanager (again, after Stop: with the same port, data
// and configuration) and waits until it is ready.
func (am *Alertmanager) Start() error {
	p, err := Start(am.LogPath, nil, am.Bin,
		"--config.file="+am.ConfigFile,
		"--storage.path="+am.DataDir,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", am.Port),
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	if err != nil {
		return err
	}
	am.Proc = p
	if err := WaitHTTP(context.Background(), am.URL+"/-/ready", 30*time.Second); err != nil {
		p.Kill()
		return fmt.Errorf("%w\n%s", err, Tail(p.Log(), 4000))
	}
	return nil
}
