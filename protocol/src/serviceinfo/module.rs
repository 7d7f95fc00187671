//! ServiceInfo modules: the traits an application implements on either side, and the
//! registries that hold them.
//!
//! A module receives complete values (cut values are put back together before it sees them)
//! and produces [`ModuleMessage`]s, which the exchange queues, cuts to the peer's size limit and
//! sends. Module names are compared exactly, as they appear on the wire.
//!
//! * Owner side: an [`OwnerModule`] is asked whether to run once the device's devmod is known
//!   ([`OwnerModule::begin`], by default: when devmod lists it), then receives the device's
//!   messages for it, produces what to send, and says when it is done. The owner side runs in
//!   a relying party that keeps each session in its database between requests, so the
//!   registry ([`OwnerModules`]) is built afresh for every request and a module with state
//!   saves and restores it ([`OwnerModule::save`], [`OwnerModule::restore`]). Messages for a
//!   module the owner does not have are ignored, and a device answering `module:active =
//!   false` ends that module.
//! * Device side: a [`DeviceModule`] receives the owner's messages for it and answers. The
//!   registry ([`DeviceModules`]) holds the device's [`Devmod`] and answers a module it does
//!   not have as FDO expects: `module:active = false` in reply to `module:active`, silence for
//!   anything else.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Error;
use crate::cbor::Cbor;
use crate::serviceinfo::{DEVMOD, Devmod};

/// One message of a module: its name (the part after `module:`) and its value, one complete
/// CBOR item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleMessage {
    /// The message name, e.g. `active` or `command`.
    pub message: String,
    /// The encoded value.
    pub value: Vec<u8>,
}

impl ModuleMessage {
    /// A message whose value is the encoding of `value`.
    pub fn new<T: Cbor>(message: &str, value: &T) -> Self {
        Self {
            message: message.to_string(),
            value: value.to_cbor(),
        }
    }

    /// A message whose value is already encoded (one complete CBOR item).
    pub fn encoded(message: &str, value: Vec<u8>) -> Self {
        Self {
            message: message.to_string(),
            value,
        }
    }
}

/// An owner-side ServiceInfo module.
pub trait OwnerModule: Send {
    /// The module name, e.g. `fdo.command`.
    fn name(&self) -> &str;

    /// Called once, when the device's devmod is complete. Returns whether the module runs for
    /// this device; by default, when the device lists it in devmod:modules.
    fn begin(&mut self, devmod: &Devmod) -> Result<bool, Error> {
        Ok(devmod.has_module(self.name()))
    }

    /// A message from the device for this module.
    fn receive(&mut self, message: &str, value: &[u8]) -> Result<(), Error>;

    /// What to send now. Returning nothing while not [done](OwnerModule::is_done) means the
    /// module waits for the device's answer.
    fn produce(&mut self) -> Result<Vec<ModuleMessage>, Error>;

    /// True once the module has nothing more to send or to wait for.
    fn is_done(&self) -> bool;

    /// The module's state, to keep until the next request of this session (confidential, like
    /// the session state that holds it). Stateless modules keep the default.
    fn save(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restores what [`OwnerModule::save`] returned, on a module freshly built for the next
    /// request.
    fn restore(&mut self, saved: &[u8]) -> Result<(), Error> {
        let _ = saved;
        Ok(())
    }
}

/// A device-side ServiceInfo module.
pub trait DeviceModule {
    /// The module name, e.g. `fdo.command`.
    fn name(&self) -> &str;

    /// A message from the owner for this module; returns the messages to answer with.
    fn receive(&mut self, message: &str, value: &[u8]) -> Result<Vec<ModuleMessage>, Error>;

    /// Messages to send unprompted, asked before each device message. None by default.
    fn produce(&mut self) -> Result<Vec<ModuleMessage>, Error> {
        Ok(Vec::new())
    }

    /// The module itself, for whoever added it to read its result once TO2 is over
    /// ([`DeviceModules::get_mut`], then `downcast_mut`). `None` by default; a module with a
    /// result returns `Some(self)`.
    fn as_any_mut(&mut self) -> Option<&mut dyn core::any::Any> {
        None
    }
}

/// The owner's modules, in the order they run (devmod is built in and comes first).
#[derive(Default)]
pub struct OwnerModules {
    modules: Vec<Box<dyn OwnerModule>>,
}

impl core::fmt::Debug for OwnerModules {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(self.modules.iter().map(|m| m.name()))
            .finish()
    }
}

impl OwnerModules {
    /// No modules besides devmod.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a module, to run after those added before it.
    pub fn with(mut self, module: Box<dyn OwnerModule>) -> Self {
        self.push(module);
        self
    }

    /// Adds a module, to run after those added before it.
    pub fn push(&mut self, module: Box<dyn OwnerModule>) {
        self.modules.push(module);
    }

    /// The module names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.modules.iter().map(|m| m.name())
    }

    /// The module called `name`.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut (dyn OwnerModule + 'static)> {
        self.modules
            .iter_mut()
            .find(|m| m.name() == name)
            .map(|m| m.as_mut())
    }

    /// The modules, to inspect them after the exchange.
    pub fn into_modules(self) -> Vec<Box<dyn OwnerModule>> {
        self.modules
    }
}

/// The device's modules and its devmod.
pub struct DeviceModules {
    devmod: Devmod,
    modules: Vec<Box<dyn DeviceModule>>,
}

impl core::fmt::Debug for DeviceModules {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceModules")
            .field("devmod", &self.devmod)
            .field(
                "modules",
                &self.modules.iter().map(|m| m.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl DeviceModules {
    /// A device describing itself with `devmod`. Its module list is kept up to date by the
    /// registry: `devmod`, then every module added.
    pub fn new(mut devmod: Devmod) -> Self {
        devmod.modules = alloc::vec![DEVMOD.to_string()];
        Self {
            devmod,
            modules: Vec::new(),
        }
    }

    /// Adds a module.
    pub fn with(mut self, module: Box<dyn DeviceModule>) -> Self {
        self.push(module);
        self
    }

    /// Adds a module.
    pub fn push(&mut self, module: Box<dyn DeviceModule>) {
        self.devmod.modules.push(module.name().to_string());
        self.modules.push(module);
    }

    /// The devmod this device sends.
    pub fn devmod(&self) -> &Devmod {
        &self.devmod
    }

    /// The module called `name`.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut (dyn DeviceModule + 'static)> {
        self.modules
            .iter_mut()
            .find(|m| m.name() == name)
            .map(|m| m.as_mut())
    }

    /// Every module, in the order added.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn DeviceModule>> {
        self.modules.iter_mut()
    }

    /// The modules, to inspect them after the exchange.
    pub fn into_modules(self) -> Vec<Box<dyn DeviceModule>> {
        self.modules
    }
}
