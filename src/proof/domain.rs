//! EIP-712 types and the contract's domain.

use alloy_primitives::{Address, B256, Bytes, aliases::U192, keccak256};
use alloy_sol_types::{Eip712Domain, SolStruct, eip712_domain, sol};

sol! {
    /// What a sender signs to pay: the receiver may claim `balance` of the channel
    /// (sender, `receiver`, `openBlockNumber`).
    #[derive(Debug, PartialEq, Eq)]
    struct BalanceProof {
        address receiver;
        uint32 openBlockNumber;
        uint192 balance;
    }

    /// What a receiver signs to agree to close at the balance of the sender's signature.
    #[derive(Debug, PartialEq, Eq)]
    struct ClosingAgreement {
        bytes balanceMsgSig;
    }

    /// What a sender signs to ask its receiver for a cooperative close at `balance` (off chain
    /// only: the contract never sees it). A distinct type from [`BalanceProof`], so no payment
    /// can stand for it; a client sends it only with the close request, and a server never
    /// echoes it, so only the sender can make one.
    #[derive(Debug, PartialEq, Eq)]
    struct CloseRequest {
        address receiver;
        uint32 openBlockNumber;
        uint192 balance;
    }
}

/// The EIP-712 domain of one channel contract on one chain, with its separator computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelDomain {
    domain: Eip712Domain,
    separator: B256,
}

impl ChannelDomain {
    /// The domain name, as in the contract's constructor.
    pub const NAME: &'static str = "RaidenMicroTransferChannels";
    /// The domain version, as in the contract's constructor.
    pub const VERSION: &'static str = "1";

    /// The domain of the channel contract at `contract` on chain `chain_id`.
    pub fn new(chain_id: u64, contract: Address) -> Self {
        let domain = eip712_domain! {
            name: Self::NAME,
            version: Self::VERSION,
            chain_id: chain_id,
            verifying_contract: contract,
        };
        let separator = domain.separator();
        Self { domain, separator }
    }

    /// The alloy domain, for wallets and `eth_signTypedData`.
    pub fn eip712(&self) -> &Eip712Domain {
        &self.domain
    }

    /// The domain separator.
    pub fn separator(&self) -> B256 {
        self.separator
    }

    /// The chain id in the domain.
    pub fn chain_id(&self) -> u64 {
        self.domain.chain_id.map_or(0, |id| id.saturating_to())
    }

    /// The contract in the domain.
    pub fn contract(&self) -> Address {
        self.domain.verifying_contract.unwrap_or_default()
    }

    /// The digest a sender signs for `balance` in channel (sender, `receiver`, `open_block`):
    /// the contract's `balanceMessageHash`.
    pub fn balance_digest(&self, receiver: Address, open_block: u32, balance: U192) -> B256 {
        self.typed_digest(&BalanceProof { receiver, openBlockNumber: open_block, balance })
    }

    /// The digest a receiver signs to agree to close at the balance of `balance_sig`:
    /// the contract's `closingAgreementMessageHash`.
    pub fn closing_digest(&self, balance_sig: &[u8]) -> B256 {
        self.typed_digest(&ClosingAgreement { balanceMsgSig: Bytes::copy_from_slice(balance_sig) })
    }

    /// The digest a sender signs to ask for a cooperative close of channel (sender,
    /// `receiver`, `open_block`) at `balance` (a [`CloseRequest`]).
    pub fn close_request_digest(&self, receiver: Address, open_block: u32, balance: U192) -> B256 {
        self.typed_digest(&CloseRequest { receiver, openBlockNumber: open_block, balance })
    }

    /// `keccak256(0x1901 ‖ separator ‖ hashStruct(message))`, with the separator cached.
    fn typed_digest<T: SolStruct>(&self, message: &T) -> B256 {
        let mut buf = [0u8; 66];
        buf[0] = 0x19;
        buf[1] = 0x01;
        buf[2..34].copy_from_slice(self.separator.as_slice());
        buf[34..].copy_from_slice(message.eip712_hash_struct().as_slice());
        keccak256(buf)
    }
}
