// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IRaidenMicroTransferChannels
/// @notice The ABI of the µRaiden channel contract: unidirectional token payment channels
///         from one sender to one receiver, paid off-chain with EIP-712 balance proofs.
/// @dev This file is the single source of the ABI. The contract implements it and the Rust
///      bindings (`alloy_sol_types::sol!`) are generated from it, so the two cannot drift.
///      Names, parameter orders and return types follow µRaiden 0.2 so existing clients work.
interface IRaidenMicroTransferChannels {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The constructor's token address has no code.
    error TokenHasNoCode(address token);
    /// @notice The constructor's challenge period is zero.
    error ZeroChallengePeriod();
    /// @notice `tokenFallback` was called by an account other than the token.
    error CallerNotToken(address caller);
    /// @notice `tokenFallback` data is neither 20 bytes (open) nor 24 bytes (top-up).
    error InvalidTokenFallbackData(uint256 length);
    /// @notice An ERC223 deposit does not fit in uint192.
    error DepositTooLarge(uint256 deposit);
    /// @notice The receiver of a new channel is the zero address.
    error InvalidReceiver();
    /// @notice A deposit or a top-up of zero tokens.
    error ZeroDeposit();
    /// @notice The block number does not fit in uint32, so it cannot name a channel.
    error BlockNumberTooLarge(uint256 blockNumber);
    /// @notice A channel with the same (sender, receiver, open block) exists already.
    error ChannelExists(bytes32 key);
    /// @notice No open channel has this key.
    error ChannelNotFound(bytes32 key);
    /// @notice The sender has requested to close the channel, so it takes no top-up and no second request.
    error CloseAlreadyRequested(bytes32 key);
    /// @notice A top-up would take the deposit past uint192.
    error DepositOverflow(uint192 deposit, uint192 addedDeposit);
    /// @notice The balance to close with is larger than the channel's deposit.
    error BalanceExceedsDeposit(uint192 balance, uint192 deposit);
    /// @notice `close` with one signature was called by neither the channel's sender nor its receiver.
    error CallerNotSenderOrReceiver(address caller);
    /// @notice block.number + challenge_period does not fit in uint32.
    error SettleBlockTooLarge(uint256 settleBlockNumber);
    /// @notice `settle` on a channel whose sender has not requested to close it.
    error CloseNotRequested(bytes32 key);
    /// @notice `settle` before the challenge period is over (allowed from settleBlockNumber + 1 on).
    error ChallengePeriodNotOver(uint32 settleBlockNumber);
    /// @notice A signature is not 65 bytes long.
    error InvalidSignatureLength(uint256 length);
    /// @notice A signature's s is in the upper half of the curve order (a malleable twin).
    error InvalidSignatureS(bytes32 s);
    /// @notice A signature has a bad v, or recovers to no address.
    error InvalidSignature();
    /// @notice The closing signature was made by someone other than the channel's receiver.
    error ClosingSignerNotReceiver(address signer, address receiver);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A channel was opened with `_deposit` tokens.
    event ChannelCreated(address indexed _sender, address indexed _receiver, uint192 _deposit);
    /// @notice `_added_deposit` tokens were added; the deposit is now `_deposit`.
    event ChannelToppedUp(
        address indexed _sender,
        address indexed _receiver,
        uint32 indexed _open_block_number,
        uint192 _added_deposit,
        uint192 _deposit
    );
    /// @notice The sender asked to close with `_balance`; the challenge period has started.
    event ChannelCloseRequested(
        address indexed _sender, address indexed _receiver, uint32 indexed _open_block_number, uint192 _balance
    );
    /// @notice The channel was settled: `_balance` went to the receiver, the rest back to the sender.
    event ChannelSettled(
        address indexed _sender, address indexed _receiver, uint32 indexed _open_block_number, uint192 _balance
    );

    /*//////////////////////////////////////////////////////////////
                                 GETTERS
    //////////////////////////////////////////////////////////////*/

    /// @notice The deployer.
    function owner() external view returns (address);

    /// @notice The one token this contract escrows.
    function token_address() external view returns (address);

    /// @notice Blocks the receiver has to answer a sender's close request.
    function challenge_period() external view returns (uint32);

    /// @notice The key of the channel (sender, receiver, open block):
    ///         keccak256(abi.encodePacked(_sender, _receiver, _open_block_number)).
    function getKey(address _sender, address _receiver, uint32 _open_block_number) external pure returns (bytes32);

    /// @notice EIP-712 digest of BalanceProof(address receiver,uint32 openBlockNumber,uint192 balance)
    ///         under this contract's domain: what the sender signs.
    function balanceMessageHash(address _receiver, uint32 _open_block_number, uint192 _balance)
        external
        view
        returns (bytes32);

    /// @notice EIP-712 digest of ClosingAgreement(bytes balanceMsgSig): what the receiver signs
    ///         to agree to close at the balance that `_balance_msg_sig` proves.
    function closingAgreementMessageHash(bytes calldata _balance_msg_sig) external view returns (bytes32);

    /// @notice The signer of a balance proof, that is the channel's sender. Reverts on a malformed,
    ///         high-s or unrecoverable signature.
    function verifyBalanceProof(
        address _receiver,
        uint32 _open_block_number,
        uint192 _balance,
        bytes calldata _balance_msg_sig
    ) external view returns (address);

    /// @notice The signer of a closing agreement, that is the channel's receiver. Reverts on a
    ///         malformed, high-s or unrecoverable signature.
    function verifyClosingSignature(bytes calldata _balance_msg_sig, bytes calldata _closing_sig)
        external
        view
        returns (address);

    /// @notice (key, deposit, settle block number or 0, closing balance or 0) of an open channel.
    ///         Reverts with ChannelNotFound for a channel that does not exist.
    function getChannelInfo(address _sender, address _receiver, uint32 _open_block_number)
        external
        view
        returns (bytes32, uint192, uint32, uint192);

    /*//////////////////////////////////////////////////////////////
                               OPERATIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice ERC223 entry point, callable only by the token. 20 bytes of `_data` (the receiver)
    ///         open a channel from `_sender`; 24 bytes (receiver, open block as 4 big-endian bytes)
    ///         top one up.
    function tokenFallback(address _sender, uint256 _deposit, bytes calldata _data) external;

    /// @notice Opens a channel from msg.sender to `_receiver`, pulling `_deposit` tokens
    ///         (approve them first).
    function createChannelERC20(address _receiver, uint192 _deposit) external;

    /// @notice Adds `_added_deposit` tokens (approve them first) to msg.sender's channel.
    function topUpERC20(address _receiver, uint32 _open_block_number, uint192 _added_deposit) external;

    /// @notice Closes with the sender's balance proof. Called by the receiver: settles at once.
    ///         Called by the sender: starts the challenge period.
    function close(address _receiver, uint32 _open_block_number, uint192 _balance, bytes calldata _balance_msg_sig)
        external;

    /// @notice Cooperative close: the sender's balance proof and the receiver's closing signature
    ///         over it settle at once, whoever submits them.
    function close(
        address _receiver,
        uint32 _open_block_number,
        uint192 _balance,
        bytes calldata _balance_msg_sig,
        bytes calldata _closing_sig
    ) external;

    /// @notice After the challenge period of a close request, the sender settles with the
    ///         requested balance.
    function settle(address _receiver, uint32 _open_block_number) external;
}
