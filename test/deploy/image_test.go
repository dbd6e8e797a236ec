package deploy

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The image's build is checked without a Docker engine: the Dockerfile is
// parsed, its go build command is run on a copy of the build context that
// .dockerignore leaves, and the binary is run the way the final stage runs
// it — alone in an empty root file system, as the image's non-root user.

// testVersion is the VERSION build argument the tests stamp.
const testVersion = "v0.0.0-imagetest"

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, ARG, RUN, ...
	args string
}

func parseDockerfile(t *testing.T) []instruction {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  []instruction
		cur  strings.Builder
		scan = bufio.NewScanner(bytes.NewReader(data))
	)
	for scan.Scan() {
		line := strings.TrimSpace(scan.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") { // a comment inside a continued instruction
			continue
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continued instruction: %s", cur.String())
	}
	return out
}

// stage is one FROM ... section of the Dockerfile.
type stage struct {
	image, name string
	args        map[string]string // ARG defaults declared in the stage
	body        []instruction
}

// dockerfile is the parsed Dockerfile with what the checks need.
type dockerfile struct {
	globalArgs map[string]string
	stages     []*stage
}

func loadDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	df := &dockerfile{globalArgs: map[string]string{}}
	for _, in := range parseDockerfile(t) {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			s := &stage{args: map[string]string{}}
			if len(f) == 0 {
				t.Fatalf("FROM without an image: %q", in.args)
			}
			s.image = f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			df.stages = append(df.stages, s)
		case in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			if len(df.stages) == 0 {
				df.globalArgs[k] = v
			} else {
				df.stages[len(df.stages)-1].args[k] = v
			}
		case len(df.stages) == 0:
			t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
		default:
			s := df.stages[len(df.stages)-1]
			s.body = append(s.body, in)
		}
	}
	if len(df.stages) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a minimal final stage", len(df.stages))
	}
	return df
}

func (s *stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// buildCommand returns the build stage's go build RUN instruction, without
// its --mount options, and the path it writes the binary to.
func (df *dockerfile) buildCommand(t *testing.T) (builder *stage, command, output string) {
	t.Helper()
	for _, s := range df.stages[:len(df.stages)-1] {
		for _, in := range s.find("RUN") {
			if !strings.Contains(in.args, "go build") {
				continue
			}
			f := in.args
			for strings.HasPrefix(f, "--") {
				_, f, _ = strings.Cut(f, " ")
				f = strings.TrimSpace(f)
			}
			m := regexp.MustCompile(`\s-o\s+(\S+)`).FindStringSubmatch(f)
			if m == nil {
				t.Fatalf("the go build command names no -o output: %s", f)
			}
			return s, f, m[1]
		}
	}
	t.Fatal("no RUN ... go build in the Dockerfile's build stages")
	return nil, "", ""
}

// finalStage checks the final stage and returns the binary's path in the
// image and the UID and GID it runs as.
func (df *dockerfile) finalStage(t *testing.T, builder *stage, output string) (binPath string, uid, gid int) {
	t.Helper()
	final := df.stages[len(df.stages)-1]
	if final.image != "scratch" && !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot(@sha256:[0-9a-f]{64})?$`).MatchString(final.image) {
		t.Errorf("final image %s: want gcr.io/distroless/static...:nonroot or scratch (no shell, no libc)", final.image)
	}
	copies := final.find("COPY")
	if len(copies) != 1 {
		t.Fatalf("final stage has %d COPY instructions, want exactly the binary", len(copies))
	}
	f := strings.Fields(copies[0].args)
	if len(f) != 3 || f[0] != "--from="+builder.name || f[1] != output {
		t.Fatalf("final stage COPY %s: want --from=%s %s <path>", copies[0].args, builder.name, output)
	}
	binPath = f[2]
	users := final.find("USER")
	if len(users) != 1 {
		t.Fatalf("final stage has %d USER instructions, want one", len(users))
	}
	u, g, _ := strings.Cut(users[0].args, ":")
	var err error
	if uid, err = strconv.Atoi(u); err != nil || uid == 0 {
		t.Fatalf("USER %s: want a numeric non-zero UID, so that runAsNonRoot can verify it", users[0].args)
	}
	if gid, err = strconv.Atoi(g); err != nil || gid == 0 {
		t.Fatalf("USER %s: want a numeric non-zero GID", users[0].args)
	}
	eps := final.find("ENTRYPOINT")
	if len(eps) != 1 || eps[0].args != fmt.Sprintf("[%q]", binPath) {
		t.Fatalf("ENTRYPOINT %v: want [%q] (exec form: there is no shell in the image)", eps, binPath)
	}
	return binPath, uid, gid
}

// builtImage is the binary built as the Dockerfile builds it, once per run.
var builtImage struct {
	once sync.Once
	dir  string // removed by TestMain
	bin  string // path on the host
	err  error
}

// imageBinary checks the Dockerfile and builds the binary with its go build
// command on a copy of the build context (once for the package's tests). It
// returns the binary, its path in the image and the UID:GID it runs as.
func imageBinary(t *testing.T) (bin, binPath string, uid, gid int) {
	t.Helper()
	df := loadDockerfile(t)
	builder, command, output := df.buildCommand(t)
	binPath, uid, gid = df.finalStage(t, builder, output)
	if !strings.Contains(command, "CGO_ENABLED=0") {
		t.Fatalf("the go build command does not set CGO_ENABLED=0: %s", command)
	}
	if !strings.Contains(command, "-X main.version=${VERSION}") {
		t.Fatalf("the go build command does not stamp -X main.version=${VERSION}: %s", command)
	}
	if got, want := df.globalArgs["GO_VERSION"], goModVersion(t); got != want {
		t.Fatalf("builder image Go %q, go.mod says go %s: keep ARG GO_VERSION in step", got, want)
	}
	b := &builtImage
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "alertmedic-image-")
		if err != nil {
			b.err = err
			return
		}
		b.dir = dir
		context := filepath.Join(dir, "context")
		if err := copyBuildContext(repo, context); err != nil {
			b.err = fmt.Errorf("copy the build context: %w", err)
			return
		}
		out := filepath.Join(dir, "alertmedic")
		command = strings.ReplaceAll(command, " -o "+output, " -o "+out)
		cmd := exec.Command("sh", "-c", command)
		cmd.Dir = context
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "VERSION="+testVersion, "TARGETOS="+runtime.GOOS, "TARGETARCH="+runtime.GOARCH)
		if log, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("the Dockerfile's build command failed on the build context: %v\n%s\n%s", err, command, log)
			return
		}
		b.bin = out
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin, binPath, uid, gid
}

func goModVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	return string(m[1])
}

// dockerignore compiles .dockerignore into matchers over slash-separated
// paths relative to the context, as Docker reads it: a pattern excludes the
// paths it matches and everything below them; ** matches any number of
// directories. Exceptions (!pattern) are not used, so not supported.
func dockerignore(root string) ([]*regexp.Regexp, error) {
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		return nil, err
	}
	var out []*regexp.Regexp
	for _, line := range strings.Split(string(data), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.HasPrefix(p, "!") {
			return nil, fmt.Errorf(".dockerignore: exception %q: this test's matcher does not support exceptions; extend it", p)
		}
		p = strings.Trim(path.Clean(strings.TrimPrefix(p, "/")), "/")
		var re strings.Builder
		re.WriteString("^")
		for i, part := range strings.Split(p, "/") {
			if part == "**" {
				re.WriteString("(.*/)?")
				continue
			}
			if i > 0 && !strings.HasSuffix(re.String(), "(.*/)?") {
				re.WriteString("/")
			}
			for _, r := range part {
				switch r {
				case '*':
					re.WriteString("[^/]*")
				case '?':
					re.WriteString("[^/]")
				default:
					re.WriteString(regexp.QuoteMeta(string(r)))
				}
			}
		}
		re.WriteString("(/.*)?$")
		out = append(out, regexp.MustCompile(re.String()))
	}
	return out, nil
}

// copyBuildContext copies what `docker build` would send from root to dst.
func copyBuildContext(root, dst string) error {
	ignore, err := dockerignore(root)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." {
			for _, re := range ignore {
				if re.MatchString(rel) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
			}
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(p, target, 0o644)
		}
		return nil // sockets, symlinks: none that a build needs
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// imageRoot lays out an empty root file system holding only the binary at
// its path in the image and a world-writable /tmp: no libc, no loader, no
// shell, no /etc.
func imageRoot(t *testing.T) (root, binPath string, uid, gid int) {
	t.Helper()
	bin, binPath, uid, gid := imageBinary(t)
	root = t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(binPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(bin, filepath.Join(root, binPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return root, binPath, uid, gid
}

// inImage returns a command that runs the image's binary chrooted into root
// as uid:gid. As root this is a plain chroot and setuid; otherwise a user
// namespace maps uid:gid to the caller (a test that cannot do either fails).
func inImage(root, binPath string, uid, gid int, args ...string) *exec.Cmd {
	cmd := exec.Command(binPath, args...)
	cmd.Dir = "/"
	cmd.Env = []string{}
	attr := &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}},
	}
	if os.Geteuid() != 0 {
		attr.Cloneflags = syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: os.Getgid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
		attr.Credential.Groups = nil
	}
	cmd.SysProcAttr = attr
	return cmd
}

// The Dockerfile's build yields a static binary: no program interpreter, no
// shared libraries, cgo off, no build machine paths.
func TestImageBinaryIsStatic(t *testing.T) {
	bin, _, _, _ := imageBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a PT_INTERP program header: it needs a dynamic loader (and libc), which distroless/static does not have")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" {
		t.Errorf("CGO_ENABLED = %q in the build info, want 0", settings["CGO_ENABLED"])
	}
	if settings["-trimpath"] != "true" {
		t.Errorf("-trimpath = %q in the build info, want true (no build machine paths in the image)", settings["-trimpath"])
	}
	// -trimpath keeps -ldflags out of the build info; the stamped version
	// is checked by running the binary (TestImageBinaryRunsWithoutLibcAsNonRoot).
}

// The binary runs alone in an empty root file system (as in the final
// image: no libc), as the image's non-root user, and reports the stamped
// version.
func TestImageBinaryRunsWithoutLibcAsNonRoot(t *testing.T) {
	root, binPath, uid, gid := imageRoot(t)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		cmd := inImage(root, binPath, uid, gid, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("alertmedic %s in an empty root as %d:%d: %v\n%s", args[0], uid, gid, err, out)
		}
		want := fmt.Sprintf("alertmedic %s (", testVersion)
		if !strings.HasPrefix(string(out), want) {
			t.Errorf("alertmedic %s printed %q, want it to start with %q", args[0], out, want)
		}
	}
	// The UID is the image's: a file only that user may run runs, and root's
	// copy does not.
	if os.Geteuid() == 0 {
		own := filepath.Join(root, "own")
		if err := copyFile(filepath.Join(root, binPath), own, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(own, uid, gid); err != nil {
			t.Fatal(err)
		}
		if out, err := inImage(root, "/own", uid, gid, "version").CombinedOutput(); err != nil {
			t.Errorf("a binary only UID %d may run did not run as that user: %v\n%s", uid, err, out)
		}
		if err := os.Chown(own, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := inImage(root, "/own", uid, gid, "version").Run(); err == nil {
			t.Errorf("a binary only root may run ran: the process is root, not UID %d", uid)
		}
	} else {
		t.Logf("NOTE: not root: ran in a user namespace mapping UID %d to yours; the ownership check needs root", uid)
	}
}
