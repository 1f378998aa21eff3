// Reading the head of a file with the callback API: one open, one read, one fstat, one close on
// libuv's thread pool, without FileHandle objects (whose promise and GC bookkeeping costs more than
// the read itself when the files are small). The benchmark's floor uses the same calls minus fstat.
import * as fs from "node:fs";

export interface Head {
    /** Bytes placed at the start of the buffer. */
    bytesRead: number;
    /** Size of the file (from fstat). */
    size: number;
}

/** Opens `file`, reads up to `buf.length` bytes from offset 0 into `buf`, and returns them with the file size. */
export function readHead(file: string, buf: Uint8Array): Promise<Head> {
    // Inline callbacks only: this runs once per file, and named closures cost more under tsx (keepNames).
    return new Promise((resolve, reject) => {
        fs.open(file, "r", (err, fd) => {
            if (err) return reject(err);
            fs.read(fd, buf, 0, buf.length, 0, (re, bytesRead) => {
                // A read shorter than asked means end of file for a regular file: no fstat needed.
                if (re || bytesRead < buf.length)
                    return fs.close(fd, (ce) =>
                        re || ce ? reject(re ?? ce) : resolve({ bytesRead, size: bytesRead }),
                    );
                fs.fstat(fd, (se, st) =>
                    fs.close(fd, (ce) => (se || ce ? reject(se ?? ce) : resolve({ bytesRead, size: st.size }))),
                );
            });
        });
    });
}

/** The floor of the benchmark: open, read up to `buf.length` bytes, close. */
export function readHeadBare(file: string, buf: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
        fs.open(file, "r", (err, fd) => {
            if (err) return reject(err);
            fs.read(fd, buf, 0, buf.length, 0, (re, n) =>
                fs.close(fd, (ce) => (re ? reject(re) : ce ? reject(ce) : resolve(n))),
            );
        });
    });
}
