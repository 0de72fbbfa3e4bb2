package main

import "syscall"

// procAttr puts a child in a process group of its own and has the kernel
// kill it if the demo dies without stopping it (kill -9, a crash).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
