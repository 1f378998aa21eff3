package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pkg/sftp"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
	"golang.org/x/crypto/ssh"
)

// sftpServerFinder starts the server's sftp-server binary when the sshd has no "Subsystem sftp"
// line (as with a minimal sshd_config). Tried in the order of common distributions' paths.
const sftpServerFinder = `for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server ` +
	`/usr/libexec/sftp-server /usr/lib/sftp-server /usr/local/libexec/sftp-server; do ` +
	`[ -x "$p" ] && exec "$p"; done; echo "no sftp subsystem and no sftp-server binary found" >&2; exit 127`

// openSFTP opens an SFTP client: the sftp subsystem if the server offers it, otherwise the
// sftp-server binary started through the login shell.
func openSFTP(client *ssh.Client) (*sftp.Client, func(), error) {
	if c, err := sftp.NewClient(client); err == nil {
		return c, func() { c.Close() }, nil
	}
	session, err := client.NewSession()
	if err != nil {
		return nil, nil, fmt.Errorf("opening an SSH session for SFTP: %w", err)
	}
	stdin, err := session.StdinPipe()
	if err != nil {
		session.Close()
		return nil, nil, err
	}
	stdout, err := session.StdoutPipe()
	if err != nil {
		session.Close()
		return nil, nil, err
	}
	var stderr strings.Builder
	session.Stderr = &stderr
	if err := session.Start(sftpServerFinder); err != nil {
		session.Close()
		return nil, nil, fmt.Errorf("starting sftp-server: %w", err)
	}
	c, err := sftp.NewClientPipe(stdout, stdin)
	if err != nil {
		session.Close()
		return nil, nil, fmt.Errorf("the server offers no SFTP (no sftp subsystem, and sftp-server did not start: %s): %w",
			strings.TrimSpace(stderr.String()), err)
	}
	return c, func() { c.Close(); session.Close() }, nil
}

// remoteFS is the part of an SFTP client the copy needs; tests may substitute it.
type remoteFS interface {
	Stat(p string) (os.FileInfo, error)
	MkdirAll(p string) error
	Create(p string) (*sftp.File, error)
	Chmod(p string, mode os.FileMode) error
}

// CopyStats counts what a copy wrote.
type CopyStats struct {
	Files, Dirs int
	Target      string
}

// Copy uploads spec.Source to spec.RemotePath.
//
//	source                               | remotePath is a dir | does not exist    | is a file
//	-------------------------------------|---------------------|-------------------|-----------
//	FileAsset / archive file (.tgz ...)  | remotePath/<name>   | remotePath        | overwritten
//	StringAsset                          | error               | remotePath        | overwritten
//	FileArchive of directory "d"         | remotePath/d/...    | remotePath/d/...  | error
//	FileArchive of directory "d/"        | remotePath/...      | remotePath/...    | error
//	AssetArchive                         | remotePath/<key>... | remotePath/<key>  | error
//
// Missing parent directories are created; existing files are overwritten; remote files that are
// not in the source are left alone. Relative local paths are relative to the program's directory
// (the plugin's working directory); relative remote paths to the remote user's home.
func Copy(ctx context.Context, client *ssh.Client, s *CopySpec) (CopyStats, error) {
	c, closeFn, err := openSFTP(client)
	if err != nil {
		return CopyStats{}, err
	}
	defer closeFn()
	return copyTo(ctx, c, s.Source, s.RemotePath)
}

func copyTo(ctx context.Context, c remoteFS, src Source, dest string) (CopyStats, error) {
	st := &CopyStats{}
	destInfo, err := remoteStat(c, dest)
	if err != nil {
		return *st, err
	}
	destIsDir := destInfo != nil && destInfo.IsDir()
	switch {
	case src.Asset != nil && src.Asset.IsText():
		if destIsDir {
			return *st, fmt.Errorf("remote path %s is a directory; with a StringAsset, remotePath must name the file", dest)
		}
		st.Target = dest
		text, _ := src.Asset.GetText()
		return *st, writeRemote(c, dest, strings.NewReader(text), 0, st)
	case src.Asset != nil:
		p, _ := src.Asset.GetPath()
		info, err := os.Stat(p)
		if err != nil {
			return *st, fmt.Errorf("source: %w", err)
		}
		if info.IsDir() {
			return *st, fmt.Errorf("source %s is a directory: use a FileArchive for directories", p)
		}
		st.Target = dest
		if destIsDir {
			st.Target = path.Join(dest, filepath.Base(p))
		}
		return *st, copyLocalFile(c, p, st.Target, info.Mode().Perm(), st)
	case src.Archive != nil && src.Archive.IsPath():
		p, _ := src.Archive.GetPath()
		info, err := os.Stat(p)
		if err != nil {
			return *st, fmt.Errorf("source: %w", err)
		}
		if !info.IsDir() {
			// An archive file (.tgz, .zip, ...) is copied as it is, not unpacked.
			st.Target = dest
			if destIsDir {
				st.Target = path.Join(dest, filepath.Base(p))
			}
			return *st, copyLocalFile(c, p, st.Target, info.Mode().Perm(), st)
		}
		if destInfo != nil && !destIsDir {
			return *st, fmt.Errorf("remote path %s exists and is not a directory; the source %s is a directory", dest, p)
		}
		st.Target = dest
		if !strings.HasSuffix(p, "/") {
			st.Target = path.Join(dest, filepath.Base(filepath.Clean(p)))
		}
		return *st, copyLocalDir(ctx, c, p, st.Target, st)
	case src.Archive != nil && src.Archive.IsAssets():
		if destInfo != nil && !destIsDir {
			return *st, fmt.Errorf("remote path %s exists and is not a directory; an AssetArchive is copied as a directory", dest)
		}
		st.Target = dest
		if err := mkdirAll(c, dest, st); err != nil {
			return *st, err
		}
		return *st, copyAssets(ctx, c, src.Archive, dest, st)
	}
	return *st, errors.New("source must be a FileAsset, a StringAsset, a FileArchive or an AssetArchive")
}

// remoteStat: nil, nil when the path does not exist.
func remoteStat(c remoteFS, p string) (os.FileInfo, error) {
	info, err := c.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("remote stat %s: %w", p, err)
	}
	return info, nil
}

func mkdirAll(c remoteFS, dir string, st *CopyStats) error {
	info, err := remoteStat(c, dir)
	if err != nil {
		return err
	}
	if info != nil {
		if !info.IsDir() {
			return fmt.Errorf("remote path %s exists and is not a directory", dir)
		}
		return nil
	}
	if err := c.MkdirAll(dir); err != nil {
		return fmt.Errorf("creating remote directory %s: %w", dir, err)
	}
	st.Dirs++
	return nil
}

// writeRemote writes r to the remote file p (created or truncated), creating its parent
// directories; mode 0 keeps the server's default (or the existing file's) permissions.
func writeRemote(c remoteFS, p string, r io.Reader, mode os.FileMode, st *CopyStats) error {
	if dir := path.Dir(p); dir != "." && dir != "/" {
		if err := mkdirAll(c, dir, st); err != nil {
			return err
		}
	}
	f, err := c.Create(p)
	if err != nil {
		return fmt.Errorf("creating remote file %s: %w", p, err)
	}
	if _, err := f.ReadFrom(r); err != nil {
		f.Close()
		return fmt.Errorf("writing remote file %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing remote file %s: %w", p, err)
	}
	if mode != 0 {
		if err := c.Chmod(p, mode); err != nil {
			return fmt.Errorf("chmod remote file %s: %w", p, err)
		}
	}
	st.Files++
	return nil
}

func copyLocalFile(c remoteFS, local, remote string, mode os.FileMode, st *CopyStats) error {
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	return writeRemote(c, remote, f, mode, st)
}

// copyLocalDir copies the tree under local into remote (created), keeping permission bits.
// Symbolic links to files are copied as files; links to directories are skipped, as in archives.
func copyLocalDir(ctx context.Context, c remoteFS, local, remote string, st *CopyStats) error {
	if err := mkdirAll(c, remote, st); err != nil {
		return err
	}
	return filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		target := path.Join(remote, filepath.ToSlash(rel))
		if d.IsDir() {
			return mkdirAll(c, target, st)
		}
		info, err := os.Stat(p) // follows symbolic links
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		return copyLocalFile(c, p, target, info.Mode().Perm(), st)
	})
}

// copyAssets writes an AssetArchive's members under dir: assets as files, directory archives as
// directories, other archives (tar, zip) expanded.
func copyAssets(ctx context.Context, c remoteFS, a *archive.Archive, dir string, st *CopyStats) error {
	members, _ := a.GetAssets()
	names := make([]string, 0, len(members))
	for k := range members {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		target := path.Join(dir, filepath.ToSlash(name))
		if !strings.HasPrefix(target, strings.TrimSuffix(dir, "/")+"/") && dir != "." {
			return fmt.Errorf("AssetArchive member %q would land outside %s", name, dir)
		}
		switch m := members[name].(type) {
		case *asset.Asset:
			switch {
			case m.IsText():
				text, _ := m.GetText()
				if err := writeRemote(c, target, strings.NewReader(text), 0, st); err != nil {
					return err
				}
			case m.IsPath():
				p, _ := m.GetPath()
				info, err := os.Stat(p)
				if err != nil {
					return fmt.Errorf("source member %q: %w", name, err)
				}
				if err := copyLocalFile(c, p, target, info.Mode().Perm(), st); err != nil {
					return err
				}
			default:
				return fmt.Errorf("source member %q: remote (URI) assets are not supported", name)
			}
		case *archive.Archive:
			switch {
			case m.IsAssets():
				if err := mkdirAll(c, target, st); err != nil {
					return err
				}
				if err := copyAssets(ctx, c, m, target, st); err != nil {
					return err
				}
			case m.IsPath():
				p, _ := m.GetPath()
				if info, err := os.Stat(p); err == nil && info.IsDir() {
					if err := copyLocalDir(ctx, c, p, target, st); err != nil {
						return err
					}
					continue
				}
				if err := expandArchive(c, m, target, st); err != nil {
					return fmt.Errorf("source member %q: %w", name, err)
				}
			default:
				return fmt.Errorf("source member %q: remote (URI) archives are not supported", name)
			}
		default:
			return fmt.Errorf("source member %q is neither an asset nor an archive", name)
		}
	}
	return nil
}

// expandArchive writes the members of an archive file (tar, tgz, zip) under dir.
func expandArchive(c remoteFS, a *archive.Archive, dir string, st *CopyStats) error {
	r, err := a.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		name, blob, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		target := path.Join(dir, filepath.ToSlash(name))
		if !strings.HasPrefix(target, strings.TrimSuffix(dir, "/")+"/") {
			blob.Close()
			return fmt.Errorf("archive member %q would land outside %s", name, dir)
		}
		err = writeRemote(c, target, blob, 0, st)
		blob.Close()
		if err != nil {
			return err
		}
	}
}
