// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Escrow for GPU rentals
/// @notice A renter funds a rental under the hub's id for the node's price. The hub's operator (the
/// owner) marks it started and, when it ends, settles it with the seconds used: the provider is
/// credited min(seconds x price, deposit) and the renter the rest. Both withdraw their balances
/// (pull payments). A rental the operator never starts can be reclaimed by its renter after
/// reclaimDelay. Payments are in the native currency, or in one ERC-20 token chosen at deployment.
contract RentalEscrow is Ownable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    struct Rental {
        address renter;
        address provider;
        uint256 pricePerSec;
        uint256 deposit;
        uint64 openedAt;
        bool started;
        bool closed;
    }

    /// @notice The payment token; address(0) means the native currency.
    IERC20 public immutable token;
    /// @notice Seconds after opening before a renter may reclaim a rental that never started.
    uint256 public immutable reclaimDelay;

    mapping(bytes32 rentalId => Rental) public rentals;
    mapping(address account => uint256) public balanceOf;

    event RentalOpened(bytes32 indexed rentalId, address indexed renter, address indexed provider, uint256 pricePerSec, uint256 deposit);
    event RentalToppedUp(bytes32 indexed rentalId, address indexed from, uint256 amount, uint256 deposit);
    event RentalStarted(bytes32 indexed rentalId);
    event RentalSettled(bytes32 indexed rentalId, uint256 secondsUsed, uint256 providerAmount, uint256 renterRefund);
    event RentalReclaimed(bytes32 indexed rentalId, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);

    error UnknownRental(bytes32 rentalId);
    error RentalExists(bytes32 rentalId);
    error RentalClosed(bytes32 rentalId);
    error RentalAlreadyStarted(bytes32 rentalId);
    error NotRenter(bytes32 rentalId);
    error ReclaimTooEarly(bytes32 rentalId, uint256 allowedAt);
    error InvalidTerms();
    error WrongAmount(uint256 expected, uint256 sent);
    error NothingToWithdraw();

    constructor(address operator, IERC20 paymentToken, uint256 reclaimDelaySeconds) Ownable(operator) {
        token = paymentToken;
        reclaimDelay = reclaimDelaySeconds;
    }

    /// @notice Funds a new rental. Native currency: send `amount` as value. Token: approve `amount` first.
    function open(bytes32 rentalId, address provider, uint256 pricePerSec, uint256 amount) external payable nonReentrant {
        if (rentals[rentalId].renter != address(0)) revert RentalExists(rentalId);
        if (provider == address(0) || pricePerSec == 0 || amount == 0) revert InvalidTerms();
        _receive(amount);
        rentals[rentalId] = Rental({renter: msg.sender, provider: provider, pricePerSec: pricePerSec, deposit: amount, openedAt: uint64(block.timestamp), started: false, closed: false});
        emit RentalOpened(rentalId, msg.sender, provider, pricePerSec, amount);
    }

    /// @notice Adds to an open rental's deposit (anyone may; what is left goes back to the renter).
    function topUp(bytes32 rentalId, uint256 amount) external payable nonReentrant {
        Rental storage r = _open(rentalId);
        if (amount == 0) revert InvalidTerms();
        _receive(amount);
        r.deposit += amount;
        emit RentalToppedUp(rentalId, msg.sender, amount, r.deposit);
    }

    /// @notice The operator says the rental started: from now on only a settlement closes it.
    function markStarted(bytes32 rentalId) external onlyOwner {
        Rental storage r = _open(rentalId);
        if (r.started) revert RentalAlreadyStarted(rentalId);
        r.started = true;
        emit RentalStarted(rentalId);
    }

    /// @notice Closes the rental: the provider is credited min(secondsUsed x price, deposit), the renter the rest.
    function settle(bytes32 rentalId, uint256 secondsUsed) external onlyOwner {
        Rental storage r = _open(rentalId);
        r.closed = true;
        // Compared before multiplying: a huge secondsUsed caps at the deposit instead of overflowing.
        uint256 providerAmount = secondsUsed > r.deposit / r.pricePerSec ? r.deposit : secondsUsed * r.pricePerSec;
        uint256 refund = r.deposit - providerAmount;
        balanceOf[r.provider] += providerAmount;
        balanceOf[r.renter] += refund;
        emit RentalSettled(rentalId, secondsUsed, providerAmount, refund);
    }

    /// @notice The renter takes back the deposit of a rental the operator never started.
    function reclaim(bytes32 rentalId) external {
        Rental storage r = _open(rentalId);
        if (msg.sender != r.renter) revert NotRenter(rentalId);
        if (r.started) revert RentalAlreadyStarted(rentalId);
        uint256 allowedAt = uint256(r.openedAt) + reclaimDelay;
        if (block.timestamp < allowedAt) revert ReclaimTooEarly(rentalId, allowedAt);
        r.closed = true;
        balanceOf[r.renter] += r.deposit;
        emit RentalReclaimed(rentalId, r.deposit);
    }

    /// @notice Pays out the caller's whole balance.
    function withdraw() external nonReentrant {
        uint256 amount = balanceOf[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        balanceOf[msg.sender] = 0;
        if (address(token) == address(0)) Address.sendValue(payable(msg.sender), amount);
        else token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    function _open(bytes32 rentalId) private view returns (Rental storage r) {
        r = rentals[rentalId];
        if (r.renter == address(0)) revert UnknownRental(rentalId);
        if (r.closed) revert RentalClosed(rentalId);
    }

    function _receive(uint256 amount) private {
        if (address(token) == address(0)) {
            if (msg.value != amount) revert WrongAmount(amount, msg.value);
        } else {
            if (msg.value != 0) revert WrongAmount(0, msg.value);
            token.safeTransferFrom(msg.sender, address(this), amount);
        }
    }
}
