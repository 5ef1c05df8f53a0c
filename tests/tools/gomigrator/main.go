// gomigrator: a small repo migrator in Go, for the strace crash backend's tests.
//
// A repo is a directory holding `version` (an integer) and `data` (one line per
// record). Each step rewrites `data` through a temp file and an atomic rename, then
// records the version the same way. The repo lock is a kernel lock (flock) on
// `repo.lock`, as Go's lockedfile takes it. Usage:
//
//	gomigrator init REPO VERSION
//	gomigrator migrate REPO TO
//	gomigrator version REPO
//	gomigrator dump REPO
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const latest = 3

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}

// GOMIGRATOR_MUTANT=inplace writes files in place (truncate, then write): a crash in
// between loses the data, which the crash contract must catch.
var mutant = os.Getenv("GOMIGRATOR_MUTANT")

func writeAtomic(path string, data []byte) {
	tmp := path + ".tmp"
	if mutant == "inplace" {
		tmp = path
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		fail("%v", err)
	}
	// Written in two calls, so a kill can land between them.
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		fail("%v", err)
	}
	if _, err := f.Write(data[half:]); err != nil {
		fail("%v", err)
	}
	if err := f.Sync(); err != nil {
		fail("%v", err)
	}
	if err := f.Close(); err != nil {
		fail("%v", err)
	}
	if tmp == path {
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		fail("%v", err)
	}
}

func readVersion(repo string) int {
	raw, err := os.ReadFile(filepath.Join(repo, "version"))
	if err != nil {
		fail("%v", err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		fail("corrupt version file: %v", err)
	}
	return v
}

// Records: v1 "name", v2 "name;1", v3 "NAME;1". dump prints the names, lower-case.
func records(repo string) []string {
	raw, err := os.ReadFile(filepath.Join(repo, "data"))
	if err != nil {
		fail("%v", err)
	}
	return strings.Fields(string(raw))
}

// Each record is converted by its own goroutine, as a real migrator spreads work over
// workers: the main goroutine blocks on the WaitGroup and may resume on another OS
// thread, so the repo's file-system calls come from varying threads run to run.
func step(repo string, to int) {
	in := records(repo)
	out := make([]string, len(in))
	var wg sync.WaitGroup
	for i, r := range in {
		wg.Add(1)
		go func(i int, r string) {
			defer wg.Done()
			time.Sleep(time.Millisecond) // as if waiting on I/O: the scheduler moves goroutines
			switch to {
			case 2:
				r = r + ";1"
			case 3:
				r = strings.ToUpper(r)
			}
			out[i] = r
		}(i, r)
	}
	wg.Wait()
	writeAtomic(filepath.Join(repo, "data"), []byte(strings.Join(out, "\n")+"\n"))
	writeAtomic(filepath.Join(repo, "version"), []byte(fmt.Sprintf("%d\n", to)))
}

func lock(repo string) *os.File {
	f, err := os.OpenFile(filepath.Join(repo, "repo.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		fail("%v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fail("repo is locked: %s/repo.lock is held by another process", repo)
	}
	return f
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: gomigrator init|migrate|version|dump REPO [N]")
	}
	cmd, repo := os.Args[1], os.Args[2]
	switch cmd {
	case "init":
		v, _ := strconv.Atoi(os.Args[3])
		if err := os.MkdirAll(repo, 0o755); err != nil {
			fail("%v", err)
		}
		data := "alpha\nbeta\ngamma\n"
		writeAtomic(filepath.Join(repo, "data"), []byte(data))
		writeAtomic(filepath.Join(repo, "version"), []byte("1\n"))
		for next := 2; next <= v; next++ {
			step(repo, next)
		}
	case "migrate":
		to, _ := strconv.Atoi(os.Args[3])
		l := lock(repo)
		defer l.Close()
		v := readVersion(repo)
		if v > latest {
			fail("repo version %d is newer than this binary (%d)", v, latest)
		}
		for next := v + 1; next <= to; next++ {
			step(repo, next)
		}
		fmt.Printf("migrated %s to %d\n", repo, to)
	case "version":
		fmt.Println(readVersion(repo))
	case "dump":
		for _, r := range records(repo) {
			fmt.Println(strings.ToLower(strings.SplitN(r, ";", 2)[0]))
		}
	default:
		fail("unknown command %q", cmd)
	}
}
