"""Plumbing every layer may use: file locks between processes (`locks`) and the address policy that
keeps fetches and the local store server off addresses they must not reach (`addresses`).

May import: nothing of `assistant`. Public names: `locks.file_lock`, `locks.FileLock`, `locks.LockBusy`,
`addresses.AddressPolicy`.
"""
