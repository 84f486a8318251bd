; Cordon's NSIS installer hooks (bundle.windows.nsis.installerHooks in src-tauri/tauri.conf.json).
;
; The installer puts the `cordon` CLI (the Tauri sidecar) next to the app as $INSTDIR\cordon.exe.
; Agents launch `cordon mcp` by name, so the install directory goes on the user's PATH (HKCU, no
; administrator rights, like the per-user install itself) and comes off it on uninstall.
;
; The PATH edit is done by PowerShell on the raw registry value (REG_EXPAND_SZ kept, %VARS% not
; expanded), never with NSIS string functions: those are limited to NSIS_MAX_STRLEN characters
; and would truncate a long PATH. The directory is passed through an environment variable, so a
; path with quotes cannot break the command. An entry already present is not added twice.

!macro CORDON_EDIT_USER_PATH ACTION
  System::Call 'Kernel32::SetEnvironmentVariable(t "CORDON_INSTDIR", t "$INSTDIR")'
  System::Call 'Kernel32::SetEnvironmentVariable(t "CORDON_PATH_ACTION", t "${ACTION}")'
  nsExec::ExecToLog `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command "$$d = $$env:CORDON_INSTDIR.TrimEnd('\'); $$k = [Microsoft.Win32.Registry]::CurrentUser.CreateSubKey('Environment'); $$p = [string]$$k.GetValue('Path', '', 'DoNotExpandEnvironmentNames'); $$parts = @($$p.Split(';') | Where-Object { $$_ -ne '' }); $$rest = @($$parts | Where-Object { $$_.TrimEnd('\') -ine $$d }); if ($$env:CORDON_PATH_ACTION -eq 'add') { if ($$rest.Count -ne $$parts.Count) { exit 0 }; $$new = $$parts + $$d } else { if ($$rest.Count -eq $$parts.Count) { exit 0 }; $$new = $$rest }; $$k.SetValue('Path', ($$new -join ';'), [Microsoft.Win32.RegistryValueKind]::ExpandString)"`
  Pop $0
  ; Tell Explorer and new terminals that the environment changed (HWND_BROADCAST, WM_SETTINGCHANGE).
  SendMessage 0xFFFF 0x001A 0 "STR:Environment" /TIMEOUT=5000
!macroend

!macro NSIS_HOOK_POSTINSTALL
  !insertmacro CORDON_EDIT_USER_PATH "add"
!macroend

!macro NSIS_HOOK_POSTUNINSTALL
  !insertmacro CORDON_EDIT_USER_PATH "remove"
!macroend
