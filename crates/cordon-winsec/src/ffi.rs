//! The raw Win32 calls, each wrapped in a safe function that frees what Windows allocated.
// Reason: security descriptors and SIDs are only reachable through raw Win32 FFI (no safe crate).
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::ptr::{null, null_mut};

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW, GetSecurityInfo,
    SDDL_REVISION_1, SE_FILE_OBJECT, SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, GetTokenInformation, OWNER_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, SetFileSecurityW, TOKEN_QUERY, TOKEN_USER,
    TokenUser,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject,
};
use windows_sys::Win32::System::Threading::{
    CREATE_SUSPENDED, GetCurrentProcess, OpenProcessToken, OpenThread, ResumeThread,
    THREAD_SUSPEND_RESUME,
};
use windows_sys::core::PWSTR;

/// Memory Windows allocated with `LocalAlloc`, freed on drop.
struct Local(*mut c_void);

impl Drop for Local {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a Win32 call documented to allocate with LocalAlloc,
            // and is freed exactly once here.
            unsafe { LocalFree(self.0) };
        }
    }
}

/// A handle closed on drop.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by us and is closed exactly once.
        unsafe { CloseHandle(self.0) };
    }
}

/// Reads a NUL-terminated wide string Windows returned.
fn wide_to_string(text: PWSTR) -> String {
    if text.is_null() {
        return String::new();
    }
    let mut len = 0usize;
    // SAFETY: `text` is a valid NUL-terminated UTF-16 string returned by Windows; we read up to
    // and excluding its terminator.
    unsafe {
        while *text.add(len) != 0 {
            len += 1;
        }
        String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
    }
}

/// The current process user's SID as a string (`S-1-5-21-...`).
pub fn current_user_sid() -> io::Result<String> {
    let mut token: HANDLE = null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle; `token` receives a handle we close.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = Handle(token);
    let mut needed = 0u32;
    // SAFETY: a size query with no buffer; Windows writes the size it needs into `needed`.
    unsafe { GetTokenInformation(token.0, TokenUser, null_mut(), 0, &mut needed) };
    if needed == 0 {
        return Err(io::Error::last_os_error());
    }
    // u64 words: TOKEN_USER holds pointers and needs their alignment.
    let mut buffer = vec![0u64; (needed as usize).div_ceil(8)];
    // SAFETY: the buffer is at least `needed` bytes and 8-aligned.
    let ok = unsafe {
        GetTokenInformation(
            token.0,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            needed,
            &mut needed,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points into the buffer,
    // which outlives its use below.
    let user = unsafe { &*buffer.as_ptr().cast::<TOKEN_USER>() };
    let mut text: PWSTR = null_mut();
    // SAFETY: the SID is valid (above); `text` receives a LocalAlloc'd string freed by `Local`.
    if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let text = Local(text.cast());
    Ok(wide_to_string(text.0.cast()))
}

/// A security descriptor parsed from SDDL, freed on drop.
fn descriptor_from_sddl(sddl: &str) -> io::Result<Local> {
    let wide: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
    let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: `wide` is NUL-terminated; `descriptor` receives a LocalAlloc'd descriptor.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            wide.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Local(descriptor))
}

/// A descriptor (owner and DACL) as SDDL.
fn descriptor_to_sddl(descriptor: &Local) -> io::Result<String> {
    let info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    let mut text: PWSTR = null_mut();
    // SAFETY: the descriptor is valid; `text` receives a LocalAlloc'd string freed by `Local`.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor.0,
            SDDL_REVISION_1,
            info,
            &mut text,
            null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let text = Local(text.cast());
    Ok(wide_to_string(text.0.cast()))
}

fn wide_path(path: &Path) -> Vec<u16> {
    path.as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// Replaces the DACL of the file or directory at `path` with [`crate::private_path_sddl`]: the
/// current user alone, protected (nothing inherited from the parent), inherited in turn by
/// everything later created inside a directory. The Windows counterpart of `chmod 0700/0600`.
///
/// `SetFileSecurityW` rather than `SetNamedSecurityInfoW`: the path is new (nothing below it to
/// propagate to), and Wine, where the tests run, ignores the latter for files while honouring
/// the former (it maps the DACL to the Unix mode).
pub fn make_path_private(path: &Path) -> io::Result<()> {
    let descriptor = descriptor_from_sddl(&crate::private_path_sddl(&current_user_sid()?))?;
    let wide = wide_path(path);
    // SAFETY: `wide` is NUL-terminated and the descriptor (protected DACL, from SDDL `D:P`) is
    // valid for the call.
    if unsafe { SetFileSecurityW(wide.as_ptr(), DACL_SECURITY_INFORMATION, descriptor.0) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The owner and DACL of the file or directory at `path`, as SDDL.
pub fn path_sddl(path: &Path) -> io::Result<String> {
    let info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    let wide = wide_path(path);
    let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: `wide` is NUL-terminated; `descriptor` receives a LocalAlloc'd descriptor (the
    // owner/DACL out-pointers are optional and left null).
    let status = unsafe {
        GetNamedSecurityInfoW(
            wide.as_ptr(),
            SE_FILE_OBJECT,
            info,
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
            &mut descriptor,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(
            i32::try_from(status).unwrap_or(i32::MAX),
        ));
    }
    descriptor_to_sddl(&Local(descriptor))
}

/// A Windows job object with "kill on close": every process assigned to it (and every process
/// those start, which inherit the job) ends when [`Job::terminate`] is called or the job is
/// dropped. The Windows counterpart of killing a Unix process group.
pub struct Job(Handle);

impl Job {
    /// A new, empty job whose processes die when it is closed.
    pub fn new() -> io::Result<Self> {
        // SAFETY: no attributes, no name: an anonymous job handle we own.
        let handle = unsafe { CreateJobObjectW(null(), null()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        let job = Job(Handle(handle));
        // SAFETY: an all-zero JOBOBJECT_EXTENDED_LIMIT_INFORMATION is a valid "no limits" value.
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        let size = u32::try_from(std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>())
            .unwrap_or(u32::MAX);
        // SAFETY: `limits` is a valid structure of the size given, for the job we own.
        let ok = unsafe {
            SetInformationJobObject(
                job.0.0,
                JobObjectExtendedLimitInformation,
                (&limits as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                size,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(job)
    }

    /// Puts the process behind `process` (a child's handle) into the job.
    pub fn assign(&self, process: &impl AsRawHandle) -> io::Result<()> {
        // SAFETY: both handles are open for the duration of the call.
        if unsafe { AssignProcessToJobObject(self.0.0, process.as_raw_handle()) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Starts `command` inside the job: created suspended, put in the job, then resumed, so not
    /// even its first instruction (nor any process it starts) runs outside. A child that cannot
    /// be put in the job is killed and the start fails.
    pub fn spawn(&self, command: &mut std::process::Command) -> io::Result<std::process::Child> {
        use std::os::windows::process::CommandExt;
        command.creation_flags(CREATE_SUSPENDED);
        let mut child = command.spawn()?;
        if let Err(e) = self
            .assign(&child)
            .and_then(|()| resume_threads(child.id()))
        {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(child)
    }

    /// Ends every process in the job now.
    pub fn terminate(&self) {
        // SAFETY: the job handle is ours and open. Failure (nothing left to end) is harmless.
        unsafe { TerminateJobObject(self.0.0, 1) };
    }
}

/// Resumes every thread of the (suspended) process `pid`: std keeps no handle to the primary
/// thread, so the threads are found in a Toolhelp snapshot.
fn resume_threads(pid: u32) -> io::Result<()> {
    // SAFETY: a snapshot of all threads; the handle is closed by `Handle`.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if snapshot == INVALID_HANDLE_VALUE || snapshot.is_null() {
        return Err(io::Error::last_os_error());
    }
    let snapshot = Handle(snapshot);
    // SAFETY: all-zero is a valid THREADENTRY32; dwSize is set as the API requires.
    let mut entry: THREADENTRY32 = unsafe { std::mem::zeroed() };
    entry.dwSize = u32::try_from(std::mem::size_of::<THREADENTRY32>()).unwrap_or(u32::MAX);
    let mut resumed = 0usize;
    // SAFETY: the snapshot handle is open and `entry` is a valid, sized structure.
    let mut more = unsafe { Thread32First(snapshot.0, &mut entry) } != 0;
    while more {
        if entry.th32OwnerProcessID == pid {
            // SAFETY: opening a thread by id; the handle is closed by `Handle`.
            let thread = unsafe { OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID) };
            if thread.is_null() {
                return Err(io::Error::last_os_error());
            }
            let thread = Handle(thread);
            // SAFETY: the handle was opened with THREAD_SUSPEND_RESUME.
            if unsafe { ResumeThread(thread.0) } == u32::MAX {
                return Err(io::Error::last_os_error());
            }
            resumed += 1;
        }
        // SAFETY: as for Thread32First.
        more = unsafe { Thread32Next(snapshot.0, &mut entry) } != 0;
    }
    if resumed == 0 {
        return Err(io::Error::other(format!(
            "no thread of process {pid} to resume"
        )));
    }
    Ok(())
}

/// Creates one instance of the named pipe `name` with [`crate::private_sddl`] for the current
/// user: only that user can open it, remote clients are rejected, and with `first` the call
/// fails (access denied) if any process already holds the name.
pub fn create_private_pipe(name: &str, first: bool) -> io::Result<NamedPipeServer> {
    let sddl = crate::private_sddl(&current_user_sid()?);
    let wide: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
    let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: `wide` is NUL-terminated; `descriptor` receives a LocalAlloc'd descriptor.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            wide.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let descriptor = Local(descriptor);
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: u32::try_from(std::mem::size_of::<SECURITY_ATTRIBUTES>()).unwrap_or(u32::MAX),
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    let mut options = ServerOptions::new();
    options
        .first_pipe_instance(first)
        .reject_remote_clients(true);
    // SAFETY: `attributes` and the descriptor it points to are valid for the whole call (the
    // pipe copies the descriptor when it is created).
    unsafe {
        options.create_with_security_attributes_raw(
            name,
            (&mut attributes as *mut SECURITY_ATTRIBUTES).cast(),
        )
    }
}

/// The owner and DACL of the kernel object behind `handle` (a pipe end), as SDDL.
pub fn security_sddl(handle: &impl AsRawHandle) -> io::Result<String> {
    let info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: the handle is open for the duration of the call; `descriptor` receives a
    // LocalAlloc'd descriptor (the owner/DACL out-pointers are optional and left null).
    let status = unsafe {
        GetSecurityInfo(
            handle.as_raw_handle(),
            SE_KERNEL_OBJECT,
            info,
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
            &mut descriptor,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(
            i32::try_from(status).unwrap_or(i32::MAX),
        ));
    }
    let descriptor = Local(descriptor);
    let mut text: PWSTR = null_mut();
    // SAFETY: the descriptor is valid (above); `text` receives a LocalAlloc'd string.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor.0,
            SDDL_REVISION_1,
            info,
            &mut text,
            null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let text = Local(text.cast());
    Ok(wide_to_string(text.0.cast()))
}

/// Whether the object behind `handle` is owned by the current user.
pub fn owned_by_current_user(handle: &impl AsRawHandle) -> io::Result<bool> {
    let sddl = security_sddl(handle)?;
    let me = current_user_sid()?;
    Ok(crate::sddl_owner(&sddl) == Some(me.as_str()))
}
